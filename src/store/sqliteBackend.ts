import type Database from "better-sqlite3";
import { StoreError } from "../core/errors.js";
import type { StoreBackend } from "./backend.js";
import { diskFault, openDatabase } from "./openDatabase.js";
import type { SqlParam, SqlTx } from "./sql.js";

/**
 * `credentials.db` in the home, in WAL mode. One connection serves reads and writes, so a read
 * inside `exclusive` sees that transaction's own writes, as on PostgreSQL.
 */
export class SqliteBackend implements StoreBackend, SqlTx {
  readonly shared = false;
  readonly readOnly: StoreError | undefined;
  private readonly db: Database.Database;
  /** Prepared once per SQL text: the hot paths run the same few statements thousands of times. */
  private readonly prepared = new Map<string, Database.Statement>();
  private readonly versions: Database.Statement;

  constructor(
    private readonly home: string,
    readonly label: string,
    busyTimeoutMs: number,
  ) {
    ({ db: this.db, readOnly: this.readOnly } = openDatabase(home, label, busyTimeoutMs));
    this.versions = this.db.prepare("SELECT (SELECT data_version FROM pragma_data_version()) AS others, total_changes() AS own");
  }

  get<T>(sql: string, ...params: SqlParam[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SqlParam[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  run(sql: string, ...params: SqlParam[]): { changes: number } {
    return { changes: this.statement(sql).run(...params).changes };
  }

  /**
   * BEGIN IMMEDIATE (better-sqlite3 nests an inner call as a savepoint). Refused up front on a
   * store opened read-only; a disk that fills or turns read-only meanwhile becomes the same clear
   * StoreError (SQLite has rolled the write back).
   */
  exclusive<T>(fn: (tx: SqlTx) => T): T {
    if (this.readOnly) throw new StoreError(this.readOnly.message, { cause: this.readOnly.cause });
    try {
      return this.db.transaction(() => fn(this)).immediate();
    } catch (err) {
      throw diskFault(this.home, this.label, err) ?? err;
    }
  }

  /** Another process's commit (SQLite's data_version) or one through this connection (its total changes). */
  generation(): string {
    const { others, own } = this.versions.get() as { others: number; own: number };
    return `${others}:${own}`;
  }

  integrityCheck(): string {
    return this.db.pragma("integrity_check", { simple: true }) as string;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private statement(sql: string): Database.Statement {
    let statement = this.prepared.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.prepared.set(sql, statement);
    }
    return statement;
  }
}
