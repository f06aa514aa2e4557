import Database from "better-sqlite3";
import { closeSync, existsSync, openSync, readFileSync, statfsSync, statSync } from "node:fs";
import { AuthctlError, StoreError } from "../core/errors.js";
import { ensurePrivateDir } from "../core/paths.js";
import { assertKnownSchema, migrate } from "./migrations.js";

/** Errors that say the home cannot be written (as opposed to a busy, damaged or newer store). */
const CANNOT_WRITE = /^(EROFS|EACCES|EPERM|ENOSPC|EDQUOT|SQLITE_READONLY|SQLITE_CANTOPEN|SQLITE_FULL|SQLITE_IOERR)/;
const FULL = /^(ENOSPC|EDQUOT|SQLITE_FULL)/;

const codeOf = (err: unknown) => String((err as { code?: unknown } | null)?.code ?? "");

/**
 * `PRAGMA journal_mode = WAL` on a fresh (rollback-journal) file upgrades a read lock to a write
 * lock, and SQLite never calls the busy handler for that upgrade: the loser of two processes
 * creating the store at once gets SQLITE_BUSY immediately. Retry until the busy timeout.
 */
function enableWal(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      if (String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase() === "wal") return;
    } catch (err) {
      if (codeOf(err) !== "SQLITE_BUSY" || Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error("database is locked (could not switch it to WAL mode)");
    Atomics.wait(pause, 0, 0, delay);
  }
}

/** True when the file system holding `home` has no block left (SQLite reports that as a bare I/O error). */
function noSpaceLeft(home: string): boolean {
  try {
    const fs = statfsSync(home);
    return fs.bavail === 0 || fs.bfree === 0;
  } catch {
    return false;
  }
}

/**
 * The StoreError for a write the disk refused: full, or read-only (a read-only mount, a directory
 * that is not writable). Undefined for any other failure, which keeps its own message.
 */
export function diskFault(home: string, path: string, err: unknown): StoreError | undefined {
  const code = codeOf(err);
  if (!CANNOT_WRITE.test(code)) return undefined;
  if (FULL.test(code) || (code.startsWith("SQLITE_IOERR") && noSpaceLeft(home))) {
    return new StoreError(`the disk holding $AUTHCTL_HOME (${home}) is full: free space and retry; nothing was changed`, { cause: err });
  }
  const detail = code.startsWith("SQLITE_") ? `${code}: ${(err as Error).message}` : (err as Error).message;
  return new StoreError(
    `the credential store ${path} is read-only (${detail}): it can be read, but storing or removing needs a writable $AUTHCTL_HOME; nothing was changed`,
    { cause: err },
  );
}

function openReadWrite(home: string, path: string, timeoutMs: number): Database.Database {
  ensurePrivateDir(home);
  // Create the file 0600 before SQLite does; SQLite gives -wal and -shm the same mode.
  closeSync(openSync(path, "a", 0o600));
  const db = new Database(path, { timeout: timeoutMs });
  try {
    enableWal(db, timeoutMs);
    db.pragma("synchronous = NORMAL");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The store opened for reading only. A WAL database needs its -shm index: when a writer elsewhere
 * keeps one, SQLite reads through it (and sees that writer's commits). A cleanly closed store has
 * none, and on a read-only or full disk none can be made; better-sqlite3 takes no URI
 * (`immutable=1`), so then the file is read into memory — complete, because with no WAL content
 * every commit is in the main file — with its header switched out of WAL mode, as SQLite requires
 * for a deserialized database. Undefined when neither can be read.
 */
function openReadOnly(path: string, timeoutMs: number): Database.Database | undefined {
  if (!existsSync(path)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: timeoutMs });
    db.pragma("user_version", { simple: true });
    return db;
  } catch {
    db?.close();
  }
  const wal = `${path}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) return undefined;
  const bytes = readFileSync(path);
  if (bytes.length < 100) return undefined;
  if (bytes[18] === 2) bytes[18] = 1;
  if (bytes[19] === 2) bytes[19] = 1;
  return new Database(bytes, { readonly: true });
}

export interface OpenedDatabase {
  db: Database.Database;
  /** Set when the store could be opened only for reading: what every write is refused with. */
  readOnly?: StoreError;
}

/**
 * `credentials.db` in WAL mode, migrated. When the home cannot be written (a read-only mount, a
 * full disk) the store is opened read-only instead, so listing and reading still work and a
 * write fails saying why, before it touches anything.
 */
export function openDatabase(home: string, path: string, timeoutMs: number): OpenedDatabase {
  try {
    return { db: openReadWrite(home, path, timeoutMs) };
  } catch (err) {
    if (err instanceof AuthctlError) throw err;
    const cannotOpen = (cause: unknown) => new StoreError(`cannot open the credential store ${path}: ${(cause as Error).message}`, { cause });
    const fault = diskFault(home, path, err);
    if (!fault) throw cannotOpen(err);
    const db = openReadOnly(path, timeoutMs);
    if (!db) throw fault;
    try {
      assertKnownSchema(db.pragma("user_version", { simple: true }) as number);
    } catch (schemaErr) {
      db.close();
      throw cannotOpen(schemaErr);
    }
    return { db, readOnly: fault };
  }
}
