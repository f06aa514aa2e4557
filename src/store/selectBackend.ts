import { StoreError } from "../core/errors.js";
import { ensurePrivateDir, storePaths } from "../core/paths.js";
import type { StoreBackend } from "./backend.js";
import { PostgresBackend } from "./postgres/backend.js";
import { SqliteBackend } from "./sqliteBackend.js";

/** The variable that moves the store out of the home into a database shared by a fleet. */
export const STORE_URL_VARIABLE = "AUTHCTL_STORE_URL";

/**
 * `AUTHCTL_STORE_URL=postgres://…` (or `postgresql://…`): the PostgreSQL store it names; unset or
 * empty: `credentials.db` in the home. Any other scheme is refused rather than guessed at. The URL
 * may hold a password, so no message repeats it.
 */
export function openBackend(home: string, env: Readonly<Record<string, string | undefined>>, busyTimeoutMs: number): StoreBackend {
  const url = env[STORE_URL_VARIABLE]?.trim();
  if (!url) return new SqliteBackend(home, storePaths(home).db, busyTimeoutMs);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") {
    // The rows live in the database, but the key file and the audit log stay in the home.
    ensurePrivateDir(home);
    return PostgresBackend.open(url, env);
  }
  throw new StoreError(
    `${STORE_URL_VARIABLE} must be a postgres:// or postgresql:// URL (it ${scheme ? `has the scheme "${scheme}:"` : "has no scheme"}); unset it to use the SQLite store in ${home}`,
  );
}
