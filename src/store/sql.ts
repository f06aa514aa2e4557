/**
 * What a value bound to a statement may be, in both engines: times are integer milliseconds,
 * blobs are Buffers, booleans are never bound (SQLite has none).
 */
export type SqlParam = string | number | Buffer | null;

/** Reads, with `?` placeholders, in the SQL subset SQLite and PostgreSQL both speak. */
export interface SqlRead {
  get<T = Record<string, unknown>>(sql: string, ...params: SqlParam[]): T | undefined;
  all<T = Record<string, unknown>>(sql: string, ...params: SqlParam[]): T[];
}

/**
 * One write transaction as `store.exclusive` hands it out. The SQL is the subset both engines
 * speak: `?` placeholders, `INSERT … ON CONFLICT (…) DO UPDATE SET …` or `DO NOTHING` (never
 * `INSERT OR REPLACE` / `OR IGNORE`), integer-millisecond times, Buffer blobs, and no boolean
 * results (`SUM(CASE WHEN … THEN 1 ELSE 0 END)`, not `SUM(x IS NULL)`).
 */
export interface SqlTx extends SqlRead {
  run(sql: string, ...params: SqlParam[]): { changes: number };
}
