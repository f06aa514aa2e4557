import { createRequire } from "node:module";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { StoreError } from "../../core/errors.js";
import type { StoreBackend } from "../backend.js";
import type { SqlParam, SqlTx } from "../sql.js";
import { describeUrl, storeError, type WorkerError } from "./location.js";
import { PG_META_TABLE, PG_MIGRATIONS, PG_SCHEMA_VERSION } from "./schema.js";
import { LISTENING, UNREACHABLE, WORKER_SOURCE } from "./workerSource.js";

/** The store's one write lock (pg_advisory_xact_lock's key): "auth" in ASCII, the same on every host. */
const LOCK_KEY = 0x61757468;
/** A call that gets no answer in this long fails instead of hanging the caller. */
const CALL_TIMEOUT_MS = 10_000;
/**
 * Below the call's own timeout, so the worker gives up (and releases its connection) before the
 * caller does: connecting, then waiting for the write lock, then one statement.
 */
const TIMEOUTS = { connectionTimeoutMillis: 3_000, lock_timeout: 5_000, query_timeout: 8_000, statement_timeout: 8_000 };
/** How often the listener checks its connection: a host cut off without a FIN stops trusting its cache this soon. */
const HEARTBEAT_MS = 3_000;
/** A heartbeat or probe with no answer in this long: the database is unreachable (well above a loaded LAN's round-trip). */
const HEARTBEAT_TIMEOUT_MS = 5_000;
/**
 * The probe's first and longest wait between tries while the database is unreachable: calls go
 * through again about this long after it answers. A try against a stopped server is one refused
 * connect; against a silent one it waits for the connect timeout, so tries are rarer still.
 */
const PROBE_BACKOFF_MS = [100, 500];

/** What pg reads from the environment besides the URL (a password kept out of it, TLS files, ~/.pgpass). */
const PG_ENV = /^(PG[A-Z_]+|HOME)$/;

interface Answer {
  id: number;
  rows?: Record<string, unknown>[];
  changes?: number;
  error?: WorkerError;
}

/** `?` placeholders (the portable spelling) as PostgreSQL's `$1…$n`, leaving quoted text alone. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (m) => (m === "?" ? `$${++n}` : m));
}

/** A BYTEA crosses the thread boundary as a Uint8Array: the store opens Buffers. */
function withBuffers(row: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(row)) if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return row;
}

/**
 * The store in a PostgreSQL database a fleet shares (docs/fleet.md). Synchronous like the SQLite
 * backend: a worker thread owns the connections, each call waits on an Atomics cell.
 * `exclusive` holds one advisory lock for the whole store (BEGIN IMMEDIATE's meaning, across
 * hosts); `generation` reads a counter the worker's LISTEN connection bumps, so a cached read
 * costs no round-trip and a commit on another host clears it as soon as its NOTIFY arrives.
 * Once the database is found unreachable (a lost connection, a call with no answer), calls are
 * refused at once, without a round-trip, until the worker's probe reaches it again.
 */
export class PostgresBackend implements StoreBackend {
  readonly shared = true;
  readonly readOnly = undefined;
  readonly label: string;
  private readonly password: string | undefined;
  private readonly workerEnv: Record<string, string>;
  private thread!: { worker: Worker; port: MessagePort; cells: Int32Array };
  /** Set when the worker ended on its own (a bug in it, memory): the next call starts another. */
  private ended: Error | undefined;
  /** How many workers this store has started: a new one's counter starts over, its generations must not repeat. */
  private epoch = 0;
  private readonly sql = new Map<string, string>();
  private lastId = 0;
  /** Commits through this store: its own writes are seen at once, before its NOTIFY comes back. */
  private own = 0;
  private downCalls = 0;
  /** Why the database was last found unreachable, for the calls refused until it answers again. */
  private lost: WorkerError | undefined;
  /** Nesting of `exclusive` (0: none open); inner levels are savepoints. */
  private depth = 0;
  private changed = false;
  /** The open transaction's call timed out and its rollback is already queued. */
  private abandoned = false;
  private closed = false;
  private readonly tx: SqlTx = {
    get: <T>(sql: string, ...params: SqlParam[]) => this.query(sql, params, true).rows![0] as T | undefined,
    all: <T>(sql: string, ...params: SqlParam[]) => this.query(sql, params, true).rows as T[],
    run: (sql: string, ...params: SqlParam[]) => {
      const changes = this.query(sql, params, true).changes ?? 0;
      if (changes > 0) this.changed = true;
      return { changes };
    },
  };

  private constructor(
    private readonly url: string,
    env: Readonly<Record<string, string | undefined>>,
    private readonly timeoutMs: number,
  ) {
    ({ label: this.label, password: this.password } = describeUrl(url));
    this.workerEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && PG_ENV.test(e[0])));
    this.startWorker();
  }

  private startWorker(): void {
    const { port1, port2 } = new MessageChannel();
    const cells = new Int32Array(new SharedArrayBuffer(12));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      env: this.workerEnv,
      // The parent's flags must not change how this CommonJS source runs; pg's warnings are not ours to print.
      execArgv: ["--no-warnings"],
      workerData: {
        pgPath: createRequire(import.meta.url).resolve("pg"),
        config: { connectionString: this.url, application_name: "authctl", max: 4, idleTimeoutMillis: 30_000, keepAlive: true, ...TIMEOUTS },
        port: port2,
        cells,
        lockKey: LOCK_KEY,
        heartbeatMs: HEARTBEAT_MS,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        probeBackoffMs: PROBE_BACKOFF_MS,
      },
      transferList: [port2],
    });
    worker.unref();
    worker.once("exit", (code) => {
      if (!this.closed && this.thread?.worker === worker) this.ended = new Error(`its worker thread exited (code ${code})`);
    });
    this.thread = { worker, port: port1, cells };
    this.epoch++;
  }

  /** Starts the worker and brings the schema up to date (under the write lock, so racing hosts migrate once). */
  static open(url: string, env: Readonly<Record<string, string | undefined>>, timeoutMs = CALL_TIMEOUT_MS): PostgresBackend {
    const backend = new PostgresBackend(url, env, timeoutMs);
    try {
      backend.migrate();
      return backend;
    } catch (err) {
      backend.close();
      throw err;
    }
  }

  get<T>(sql: string, ...params: SqlParam[]): T | undefined {
    return this.query(sql, params, this.depth > 0).rows![0] as T | undefined;
  }

  all<T>(sql: string, ...params: SqlParam[]): T[] {
    return this.query(sql, params, this.depth > 0).rows as T[];
  }

  exclusive<T>(fn: (tx: SqlTx) => T): T {
    if (this.depth > 0) return this.savepoint(fn);
    this.abandoned = false;
    this.call({ op: "begin" });
    this.depth = 1;
    this.changed = false;
    let result: T;
    try {
      result = fn(this.tx);
    } catch (err) {
      this.depth = 0;
      if (!this.abandoned) this.quietly({ op: "rollback" });
      throw err;
    }
    this.depth = 0;
    try {
      this.call({ op: "commit", notify: this.changed });
    } finally {
      // Even a commit whose answer was lost may have landed: what this store cached is not trusted.
      if (this.changed) this.own++;
    }
    return result;
  }

  /**
   * The listener's counter and this store's own commits. While the listener is down a commit
   * elsewhere could go unnoticed, so each call answers a new value and nothing cached is used.
   */
  generation(): string {
    const { cells } = this.thread;
    if (this.ended || Atomics.load(cells, 2) !== LISTENING) return `down:${++this.downCalls}`;
    return `${this.epoch}:${Atomics.load(cells, 1)}:${this.own}`;
  }

  /** PostgreSQL keeps its own pages consistent; what can be checked from here is that it answers. */
  integrityCheck(): string {
    this.get("SELECT 1 AS ok");
    return "ok";
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: "close" }, 2_000);
    } catch {
      // Closing a store whose database is gone: the worker is ended below either way.
    }
    this.closed = true;
    this.thread.port.close();
    void this.thread.worker.terminate();
  }

  private migrate(): void {
    // Most opens find the schema current: two reads, and the fleet's write lock is not taken.
    if (this.get<{ meta: string | null }>("SELECT to_regclass('meta')::text AS meta")?.meta) {
      const version = this.get<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")?.value;
      if (version === String(PG_SCHEMA_VERSION)) return;
    }
    this.exclusive((tx) => {
      tx.run(PG_META_TABLE);
      const current = Number(tx.get<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")?.value ?? 0);
      if (current > PG_SCHEMA_VERSION) {
        throw new StoreError(`${this.label} has schema version ${current}, newer than this authctl understands (${PG_SCHEMA_VERSION}): upgrade authctl on this host`);
      }
      for (let v = current; v < PG_SCHEMA_VERSION; v++) for (const statement of PG_MIGRATIONS[v]!) tx.run(statement);
      if (current !== PG_SCHEMA_VERSION) {
        tx.run("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", String(PG_SCHEMA_VERSION));
      }
    });
  }

  private savepoint<T>(fn: (tx: SqlTx) => T): T {
    const name = `authctl_${this.depth}`;
    this.call({ op: "savepoint", sql: `SAVEPOINT ${name}` });
    this.depth++;
    try {
      const result = fn(this.tx);
      this.call({ op: "savepoint", sql: `RELEASE SAVEPOINT ${name}` });
      return result;
    } catch (err) {
      if (!this.abandoned) this.quietly({ op: "savepoint", sql: `ROLLBACK TO SAVEPOINT ${name}` });
      throw err;
    } finally {
      this.depth--;
    }
  }

  private query(sql: string, params: SqlParam[], inTx: boolean): Answer {
    let text = this.sql.get(sql);
    if (text === undefined) {
      text = numbered(sql);
      this.sql.set(sql, text);
    }
    const answer = this.call({ op: "query", sql: text, params, inTx });
    answer.rows?.forEach(withBuffers);
    return answer;
  }

  /** A rollback after a failure: its own failure (the connection is gone) must not hide the first. */
  private quietly(message: Record<string, unknown>): void {
    try {
      this.call(message);
    } catch {
      // The worker drops a connection it could not roll back on; the database rolls back with it.
    }
  }

  /** Call ids fit the Int32 cell: a daemon making thousands of calls a second wraps them within days. */
  private nextId(): number {
    this.lastId = this.lastId >= 0x7fff_ffff ? 1 : this.lastId + 1;
    return this.lastId;
  }

  private call(message: Record<string, unknown>, timeoutMs = this.timeoutMs): Answer {
    if (this.closed) throw new StoreError(`${this.label} was closed: open the store again`);
    if (this.ended) {
      // Its connections (and any transaction on them) ended with it; a new worker starts clean.
      const lost = this.ended;
      this.ended = undefined;
      this.startWorker();
      if (this.depth > 0) throw storeError(this.label, { message: `${lost.message} inside a transaction, which was rolled back; retry`, lost: true }, this.password);
    }
    const { port, cells } = this.thread;
    // Whatever starts work is refused, in a transaction too (its connection may be as silent, and the
    // worker's one queue would hold every later call behind it); a commit or rollback still ends it.
    if (message.op !== "commit" && message.op !== "rollback" && message.op !== "close" && Atomics.load(cells, 2) === UNREACHABLE) {
      const why = this.lost ?? { message: "its connection was lost" };
      throw storeError(this.label, { ...why, message: `${why.message}; calls are refused at once until a connection tried in the background is answered`, lost: true }, this.password);
    }
    const id = this.nextId();
    port.postMessage({ ...message, id });
    const deadline = Date.now() + timeoutMs;
    // The worker answers in order and nothing more is posted until this answer: the cell reaches
    // this id, whatever later answers of calls given up on it passes through on the way.
    for (let seen = Atomics.load(cells, 0); seen !== id; seen = Atomics.load(cells, 0)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        // The worker answers in order: a transaction left open is rolled back once the late call ends,
        // without waiting here for it a second time.
        if (this.depth > 0 || message.op === "begin") {
          port.postMessage({ op: "rollback", id: this.nextId() });
          this.abandoned = true;
        }
        this.lost = { message: `no answer within ${timeoutMs} ms`, lost: true };
        if (message.op !== "close") {
          Atomics.store(cells, 2, UNREACHABLE);
          port.postMessage({ op: "unreachable" });
        }
        throw storeError(this.label, this.lost, this.password);
      }
      Atomics.wait(cells, 0, seen, left);
    }
    for (;;) {
      const answer = receiveMessageOnPort(port)?.message as Answer | undefined;
      if (!answer) throw new StoreError(`${this.label}: its worker answered call ${id} without a message; open the store again`);
      if (answer.id !== id) continue;
      this.lost = answer.error?.lost ? answer.error : undefined;
      if (answer.error) throw storeError(this.label, answer.error, this.password);
      return answer;
    }
  }
}
