import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Authctl } from "../context.js";
import { AuthctlError } from "../core/errors.js";
import { ensurePrivateDir } from "../core/paths.js";

const STALE_MS = 60_000;
const WAIT_MS = 30_000;

/**
 * One refresher per (set, provider) across processes: refresh tokens are often single-use, and two
 * processes refreshing the same one at once log the user out. The lease is a directory created
 * atomically under `$AUTHCTL_HOME/run/`; a holder that died leaves one that goes stale after a
 * minute. The caller re-reads the row inside the lease (another holder may have refreshed already).
 */
export async function withRefreshLease<T>(context: Authctl, credentialSet: string, provider: string, work: () => Promise<T>): Promise<T> {
  const lock = join(ensurePrivateDir(context.paths.run), `refresh.${credentialSet}.${provider}.lock`);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = Date.now() - (statOrNull(lock)?.mtimeMs ?? Date.now());
      if (age > STALE_MS) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new AuthctlError(`another process has been refreshing ${credentialSet}:${provider} for over ${WAIT_MS / 1000}s (lease ${lock})`);
      else await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}
