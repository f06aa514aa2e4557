import type { StoreError } from "../core/errors.js";
import type { SqlRead, SqlTx } from "./sql.js";

/**
 * Where the store's rows live: the SQLite file in the home, or a PostgreSQL database shared by a
 * fleet. The store seals and opens rows, holds the key and the cache; a backend only runs SQL,
 * serialises writers and says when anything changed.
 */
export interface StoreBackend extends SqlRead {
  /** How messages name the store: the SQLite file's path, or `PostgreSQL store host:port/db`. */
  readonly label: string;
  /** True when other homes (hosts) use the same rows: a home's own rows need keys of their own. */
  readonly shared: boolean;
  /** Set when the store could be opened only for reading: what every write is refused with. */
  readonly readOnly: StoreError | undefined;
  /**
   * Runs `fn` holding the store's one write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory
   * lock), so a read-then-write in it is atomic across every process using the store; rolled back
   * when `fn` throws. A call inside `fn` nests (a savepoint) instead of waiting for itself.
   */
  exclusive<T>(fn: (tx: SqlTx) => T): T;
  /** Changes whenever anything is committed, by anyone; costs no round-trip. */
  generation(): string;
  integrityCheck(): string;
  close(): void;
}
