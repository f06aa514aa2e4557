import { lstatSync, mkdirSync, statSync, type Stats } from "node:fs";
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
 * Why an existing directory is not private to the user (another account owns it or can write to
 * it, so it could replace what authctl keeps there), or undefined when it is. A symbolic link is
 * refused when the caller lstat'ed: it may be swapped for another target at any time.
 */
export function notPrivateBecause(stats: Stats): string | undefined {
  if (stats.isSymbolicLink()) return "is a symbolic link";
  if (!stats.isDirectory()) return "is not a directory";
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return `belongs to uid ${stats.uid}, not to you (uid ${uid})`;
  if ((stats.mode & 0o022) !== 0) return `is writable by other users (mode ${(stats.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** `notPrivateBecause` for `dir` itself, never following a link; undefined for a missing dir too. */
export function privateDirProblem(dir: string): string | undefined {
  try {
    return notPrivateBecause(lstatSync(dir));
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
  const problem = notPrivateBecause(existing);
  if (problem) {
    throw new UnsafeDirectoryError(
      `${dir} ${problem}: authctl keeps secrets only in a directory you own that no one else can write; point AUTHCTL_HOME at one (a missing one is created with mode 0700), or run \`chmod go-w ${dir}\` if it is yours`,
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
