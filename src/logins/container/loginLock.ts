import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { LoginInProgressError } from "../../core/errors.js";
import { ensurePrivateDir } from "../../core/paths.js";
import { listContainers, SESSION_LABEL, type Engine } from "../../engine/index.js";
import { processAlive } from "../../store/lease.js";

/**
 * One container login per (set, provider) at a time: `$AUTHCTL_HOME/locks/<set>.<provider>.lock`,
 * created exclusively and holding who took it. A lock whose process is gone and whose container
 * no longer exists is stale (authctl was killed) and is taken over, so a crash never blocks logins.
 */
interface Holder {
  pid: number;
  host: string;
  containerName: string;
  createdAt: number;
}

/** A lock file that cannot be parsed this soon after it was made is being written, not broken. */
const WRITE_GRACE_MS = 5_000;

const lockPath = (home: string, credentialSet: string, provider: string) =>
  join(ensurePrivateDir(join(home, "locks")), `${credentialSet}.${provider}.lock`);

function readHolder(path: string): { holder?: Holder; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined; // released in the meantime
  }
  try {
    const holder = JSON.parse(text) as Holder;
    return Number.isInteger(holder.pid) && typeof holder.containerName === "string" ? { holder, text } : { text };
  } catch {
    return { text };
  }
}

async function holderActive(engine: Engine, path: string, holder: Holder | undefined): Promise<boolean> {
  if (!holder) {
    try {
      return Date.now() - statSync(path).mtimeMs < WRITE_GRACE_MS;
    } catch {
      return false;
    }
  }
  if (holder.host === hostname() && processAlive(holder.pid)) return true;
  // The process that took it is gone, but its container may still run (a frontend's argv).
  const running = await listContainers(engine, { label: `${SESSION_LABEL}=${holder.containerName}` }).catch(() => ["unknown"]);
  return running.length > 0;
}

/**
 * Takes the login lock for `credentialSet:provider` on behalf of the session whose container is
 * `containerName`; returns the function that releases it (only if it is still this session's).
 * @throws LoginInProgressError when another login for the same set and provider is active
 */
export async function acquireLoginLock(
  home: string,
  engine: Engine,
  credentialSet: string,
  provider: string,
  containerName: string,
): Promise<() => void> {
  const path = lockPath(home, credentialSet, provider);
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), containerName, createdAt: Date.now() } satisfies Holder);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, mine, { flag: "wx", mode: 0o600 });
      return () => releaseLoginLock(home, credentialSet, provider, containerName);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const current = readHolder(path);
    if (!current) continue;
    if (await holderActive(engine, path, current.holder)) {
      const who = current.holder ? ` (container ${current.holder.containerName}, pid ${current.holder.pid})` : "";
      throw new LoginInProgressError(
        `another login for ${credentialSet}:${provider} is in progress${who}; finish or interrupt it first, then try again`,
      );
    }
    // Stale: remove it unless someone replaced it meanwhile, then race for it again.
    if (readHolder(path)?.text === current.text) rmSync(path, { force: true });
  }
  throw new LoginInProgressError(`another login for ${credentialSet}:${provider} keeps taking the lock; try again`);
}

/** Removes the lock if it belongs to the session with `containerName`. */
export function releaseLoginLock(home: string, credentialSet: string, provider: string, containerName: string): void {
  let path: string;
  try {
    path = lockPath(home, credentialSet, provider);
  } catch {
    return;
  }
  if (readHolder(path)?.holder?.containerName === containerName) rmSync(path, { force: true });
}
