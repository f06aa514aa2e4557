import { chmodSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** `$AUTHCTL_HOME`, or `~/.authctl`. Never the current repo. */
export function authctlHome(env: Readonly<Record<string, string | undefined>>): string {
  const fromEnv = env.AUTHCTL_HOME?.trim();
  return resolve(fromEnv ? fromEnv : join(env.HOME?.trim() || homedir(), ".authctl"));
}

/** Creates the home dir with mode 0700, tightening an existing one that is wider. */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
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
});

export type StorePaths = ReturnType<typeof storePaths>;
