import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

/**
 * A write lock of one home, for the writers of its own files (the audit log) when the store is a
 * database other homes share. Taking that database's lock instead made every audit write a
 * round-trip to it, queued each host's writers behind every other host's, and threw out of the
 * daemon's deferred audit write (killing it) whenever the database restarted. SQLite's BEGIN
 * IMMEDIATE on a small file in the home: held by one process at a time, released by one that dies.
 */
export class HomeLock {
  private db: Database.Database | undefined;

  constructor(
    private readonly home: string,
    private readonly busyTimeoutMs: number,
  ) {}

  exclusive<T>(fn: () => T): T {
    if (!this.db) {
      const path = join(this.home, "audit.lock");
      mkdirSync(this.home, { recursive: true, mode: 0o700 });
      closeSync(openSync(path, "a", 0o600));
      this.db = new Database(path, { timeout: this.busyTimeoutMs });
    }
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
