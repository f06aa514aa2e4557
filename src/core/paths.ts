import { mkdirSync, statSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { UnsafeDirectoryError } from "./errors.js";

/** `$AUTHCTL_HOME`, or `~/.authctl`. Never the current repo. */
export function authctlHome(env: Readonly<Record<string, string | undefined>>): string {
  const fromEnv = env.AUTHCTL_HOME?.trim();
  return resolve(fromEnv ? fromEnv : join(env.HOME?.trim() || homedir(), ".authctl"));
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Creates `dir` (and missing parents) with mode 0700. An existing directory is used as it is —
 * authctl never changes the mode of a directory it did not create (`AUTHCTL_HOME=/tmp` must not
 * cost /tmp its sticky bit) — but it is refused when another account owns it or can write to it,
 * since that account could then replace the store, its key file or a login's files.
 */
export function ensurePrivateDir(dir: string): string {
  const existing = statOrUndefined(dir);
  if (!existing) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
  if (!existing.isDirectory()) throw new UnsafeDirectoryError(`${dir} exists and is not a directory; point AUTHCTL_HOME at a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && existing.uid !== uid) {
    throw new UnsafeDirectoryError(`${dir} belongs to uid ${existing.uid}, not to you (uid ${uid}): authctl keeps secrets only in a directory you own`);
  }
  if ((existing.mode & 0o022) !== 0) {
    const mode = (existing.mode & 0o7777).toString(8);
    throw new UnsafeDirectoryError(
      `${dir} is writable by other users (mode ${mode}), who could replace authctl's files: use a private directory (authctl creates a missing one with mode 0700) or run \`chmod go-w ${dir}\``,
    );
  }
  return dir;
}

/** The home layout: every file and folder authctl keeps under `$AUTHCTL_HOME`. */
export const storePaths = (home: string) => ({
  home,
  db: join(home, "credentials.db"),
  keyFile: join(home, "store.key"),
  userRoster: join(home, "agents"),
  sessions: join(home, "sessions"),
  mounts: join(home, "mounts"),
  run: join(home, "run"),
  /** Per agent-container session: its vendor config dir (phantoms only), env file and forwarder. */
  agentSessions: join(home, "agent-sessions"),
  /** The proxy's local CA (key 0600, never mounted) for clients that insist on HTTPS (Codex, ChatGPT mode). */
  proxyCa: join(home, "proxy-ca"),
});

export type StorePaths = ReturnType<typeof storePaths>;
