import { hostname } from "node:os";
import { StoreError, StoreLockedError } from "../core/errors.js";
import { assertProviderName, assertSetName } from "../core/names.js";
import { open, seal, subkeyOf } from "./crypto.js";
import type { KeySourceName } from "./keySource.js";
import { StoreKey, type KeyKind } from "./storeKey.js";
import type { StoreBackend } from "./backend.js";
import { openBackend } from "./selectBackend.js";
import type { SqlRead, SqlTx } from "./sql.js";
import { AuditLog, auditMaxBytes, auditPath, type AuditKeeper, type LifecycleOp } from "./audit.js";
import { CHECKPOINT_KEY_LABEL } from "./auditChain.js";
import { StoreCache } from "./storeCache.js";
import { HomeLock } from "./homeLock.js";
import { withLease, type LeaseOptions } from "./lease.js";
import { authctlHome } from "../core/paths.js";
import { systemClock, type Clock } from "../core/clock.js";

import type { CredentialKind } from "./kinds.js";

export { CREDENTIAL_KINDS, type CredentialKind } from "./kinds.js";

/**
 * Facts about a credential that hold nothing secret (its payload type, when its access token
 * lapses, whether it can refresh, the account a live check saw), written with the row so a
 * listing never opens the payload. Sealed rows take them into their associated data: a row whose
 * facts were changed does not decrypt. Null on a row written before they were kept.
 */
export type RowMeta = Readonly<Record<string, string | number | boolean>>;

/** What `list` and `show` see: everything but the secret. */
export interface CredentialInfo {
  credentialSet: string;
  provider: string;
  kind: CredentialKind;
  preview: string;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Its facts; null on a row written before rows kept them; absent on a credential not read from a store. */
  meta?: RowMeta | null;
}

export interface StoredCredential<T = unknown> extends CredentialInfo {
  payload: T;
}

export interface PutOptions {
  preview: string;
  expiresAt?: Date | null;
  meta?: RowMeta;
}

export interface OpenStoreOptions {
  /** The environment the key sources are read from (AUTHCTL_PASSPHRASE, …). */
  env: Readonly<Record<string, string | undefined>>;
  /** Defaults to `$AUTHCTL_HOME` or `~/.authctl`. */
  home?: string;
  clock?: Clock;
  busyTimeoutMs?: number;
}


interface Row {
  credential_set: string;
  provider: string;
  kind: CredentialKind;
  preview: string;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
  meta: string | null;
}
interface SecretRow extends Row {
  nonce: Buffer;
  ciphertext: Buffer;
}

/** A credentials row exactly as stored (sealed): what `store migrate` copies between backends. */
export type SealedRow = SecretRow;

/** The `meta` rows the store key is checked against (kdf, kdf_salt, key_check): a sealed row needs them to open. */
export type KeyMeta = Partial<Record<(typeof KEY_META)[number], string>>;
const KEY_META = ["kdf", "kdf_salt", "key_check"] as const;

const COLUMNS = "credential_set, provider, kind, preview, expires_at, created_at, updated_at, meta";
const SQL = {
  upsert: `INSERT INTO credentials (credential_set, provider, kind, nonce, ciphertext, preview, expires_at, created_at, updated_at, meta)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (credential_set, provider) DO UPDATE SET
      kind = excluded.kind, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
      preview = excluded.preview, expires_at = excluded.expires_at, updated_at = excluded.updated_at, meta = excluded.meta`,
  reseal: "UPDATE credentials SET nonce = ?, ciphertext = ?, meta = ? WHERE credential_set = ? AND provider = ?",
  get: "SELECT * FROM credentials WHERE credential_set = ? AND provider = ?",
  info: `SELECT ${COLUMNS} FROM credentials WHERE credential_set = ? AND provider = ?`,
  listAll: `SELECT ${COLUMNS} FROM credentials ORDER BY credential_set, provider`,
  listSet: `SELECT ${COLUMNS} FROM credentials WHERE credential_set = ? ORDER BY provider`,
  sealedAll: "SELECT * FROM credentials ORDER BY credential_set, provider",
  remove: "DELETE FROM credentials WHERE credential_set = ? AND provider = ?",
  getMeta: "SELECT value FROM meta WHERE key = ?",
  addMeta: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
  setMeta: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

const upsertParams = (row: SecretRow): Array<string | number | Buffer | null> => [
  row.credential_set,
  row.provider,
  row.kind,
  row.nonce,
  row.ciphertext,
  row.preview,
  row.expires_at,
  row.created_at,
  row.updated_at,
  row.meta,
];

/**
 * A row's associated data: its name and kind, and on a row with facts (`meta`) those facts and
 * what listings show (preview, expiry) too, so none of them can be changed without the payload
 * failing to open. A row written before facts were kept has none and its v1 data; removing a
 * row's facts to pass it off as such a row fails alike, since it was sealed under v2.
 */
function rowAad(row: Pick<Row, "credential_set" | "provider" | "kind" | "preview" | "expires_at" | "meta">): string {
  if (row.meta === null) return `authctl:row:v1\0${row.credential_set}\0${row.provider}\0${row.kind}`;
  return `authctl:row:v2\0${JSON.stringify([row.credential_set, row.provider, row.kind, row.preview, row.expires_at, row.meta])}`;
}

/** A row's facts; a value that is not an object of them (hand-edited) reads as none, and its row then fails to open. */
function parseMeta(text: string | null): RowMeta | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as RowMeta) : null;
  } catch {
    return null;
  }
}

const doesNotDecrypt = (credentialSet: string, provider: string) =>
  new StoreError(`the stored credential ${credentialSet}:${provider} does not decrypt (tampered with, or moved from another row); store it again`);

function toInfo(row: Row, meta = parseMeta(row.meta)): CredentialInfo {
  return {
    credentialSet: row.credential_set,
    provider: row.provider,
    kind: row.kind,
    preview: row.preview,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    meta,
  };
}

/**
 * The one credential store: `credentials.db` in the home (or the PostgreSQL database
 * `AUTHCTL_STORE_URL` names), each payload sealed with AES-256-GCM and its (set, provider, kind)
 * as associated data before it leaves the process. Listing reads only plaintext metadata, so it
 * never needs the key; the key is resolved on the first read or write of a secret.
 */
export class CredentialStore {
  readonly home: string;
  /** Where the rows live, as messages name it: the SQLite file, or `PostgreSQL store host:port/db`. */
  readonly path: string;
  private readonly backend: StoreBackend;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly clock: Clock;
  /** The store key (docs/store.md: its sources and order), resolved on the first secret read or written. */
  private readonly storeKey: StoreKey;
  /**
   * Rows already decrypted, as JSON text (each get parses its own copy), dropped at any commit by
   * anyone (`generation`): the service answers the same few credentials thousands of times a
   * second, and decrypting and selecting each time was most of its own work.
   */
  private readonly opened = new StoreCache<{ row: Row; json: string }>(() => this);

  /** This store's writer of the audit log, opened at its first event: `close` signs what it wrote. */
  private auditLog: AuditLog | undefined;
  /** On a shared store: the lock of this home's audit log (opened at its first write). */
  private homeLock: HomeLock | undefined;
  private closed = false;

  private constructor(home: string, env: Readonly<Record<string, string | undefined>>, clock: Clock, busyTimeoutMs: number) {
    this.home = home;
    this.env = env;
    this.clock = clock;
    this.backend = openBackend(home, env, busyTimeoutMs);
    this.path = this.backend.label;
    this.storeKey = new StoreKey({
      home,
      path: this.path,
      env,
      meta: (key) => this.meta(key),
      initialise: (write) =>
        this.backend.exclusive((tx) =>
          write(
            (key, value) => void tx.run(SQL.addMeta, key, value),
            (key) => tx.get<{ value: string }>(SQL.getMeta, key)?.value,
          ),
        ),
    });
  }

  static open(options: OpenStoreOptions): CredentialStore {
    const { env } = options;
    return new CredentialStore(options.home ?? authctlHome(env), env, options.clock ?? systemClock, options.busyTimeoutMs ?? 15_000);
  }

  /** Why this store can only be read (opened on a read-only or full disk), or undefined when it can be written. */
  get readOnlyReason(): string | undefined {
    return this.backend.readOnly?.message;
  }

  /** Which source unlocked the store, once a secret has been read or written. */
  get keySource(): KeySourceName | undefined {
    return this.storeKey.source;
  }

  /** The key kind this store was created with, or undefined before its first secret. */
  get keyKind(): KeyKind | undefined {
    return this.storeKey.kind;
  }

  /** True when only an interactive passphrase can unlock the store (no env source, passphrase store). */
  needsPassphrasePrompt(): boolean {
    return this.storeKey.needsPassphrasePrompt();
  }

  /**
   * Before the first secret: keeps a new random store key in the OS keyring if one answers.
   * True when the store now has a key (this call or an earlier one made it), false when the
   * keyring is silent or AUTHCTL_STORE_KEY=file, and the caller may still choose (a TTY passphrase, else the key file).
   */
  createKeyInKeyring(): boolean {
    return this.storeKey.createInKeyring();
  }

  /** Before the first secret: the 0600 key file, without asking the keyring again (a declined first-run offer). */
  createKeyFile(): void {
    this.storeKey.createKeyFile();
  }

  /** Unlocks a passphrase store with a passphrase the caller obtained (e.g. a TTY prompt). */
  unlockWithPassphrase(passphrase: string): void {
    this.storeKey.unlockWithPassphrase(passphrase);
  }

  /** Unlocks a passphrase store with its derived key, handed over by this home's daemon during an unlock session. */
  unlockWithKey(key: Buffer): void {
    this.storeKey.unlockWithKey(key);
  }

  /** The store key, to hand to this home's daemon for an unlock session; undefined while locked. */
  get unlockedKey(): Buffer | undefined {
    return this.storeKey.copy;
  }

  /** Forgets the key and every decrypted row (an unlock session's end); the next read needs a key source again. */
  lock(): void {
    this.storeKey.lock();
    this.opened.clear();
  }

  /** Resolves and checks the key without touching any credential (for `authctl status`). */
  verifyKey(): void {
    this.requireKey();
  }

  /**
   * What a write needs, checked now: a writable store and its key from the environment's sources.
   * A login calls it before it starts, so one whose credential could not be stored fails before
   * the user logs in rather than after, and the key is not read on the way out of the login.
   * @throws StoreError (a read-only store) or StoreLockedError (a wrong or missing passphrase, a silent keyring)
   */
  assertCanStore(): void {
    this.assertWritable();
    this.requireKey();
  }

  put(credentialSet: string, provider: string, kind: CredentialKind, payload: unknown, options: PutOptions): void {
    this.putMany([{ credentialSet, provider, kind, payload, ...options }]);
  }

  /** Writes several rows in one transaction: all land or none do. */
  putMany(entries: ReadonlyArray<{ credentialSet: string; provider: string; kind: CredentialKind; payload: unknown } & PutOptions>): void {
    this.assertWritable();
    const key = this.requireKey();
    const now = this.clock.now();
    const rows = entries.map((e): SecretRow => {
      assertSetName(e.credentialSet);
      assertProviderName(e.provider);
      const row: Row = {
        credential_set: e.credentialSet,
        provider: e.provider,
        kind: e.kind,
        preview: e.preview,
        expires_at: e.expiresAt ? e.expiresAt.getTime() : null,
        created_at: now,
        updated_at: now,
        meta: e.meta ? JSON.stringify(e.meta) : null,
      };
      return { ...row, ...seal(key, Buffer.from(JSON.stringify(e.payload), "utf8"), rowAad(row)) };
    });
    this.backend.exclusive((tx) => {
      for (const row of rows) tx.run(SQL.upsert, ...upsertParams(row));
    });
  }

  get<T = unknown>(credentialSet: string, provider: string): StoredCredential<T> | undefined {
    const hit = this.opened.get(`${credentialSet}\0${provider}`, () => {
      const row = this.backend.get<SecretRow>(SQL.get, credentialSet, provider);
      if (!row) return undefined;
      const plaintext = open(this.requireKey(), row, rowAad(row));
      if (!plaintext) throw doesNotDecrypt(credentialSet, provider);
      return { row, json: plaintext.toString("utf8") };
    });
    if (!hit) return undefined;
    return { ...toInfo(hit.row), payload: JSON.parse(hit.json) as T };
  }

  info(credentialSet: string, provider: string): CredentialInfo | undefined {
    const row = this.backend.get<Row>(SQL.info, credentialSet, provider);
    return row && toInfo(row);
  }

  list(filter: { credentialSet?: string } = {}): CredentialInfo[] {
    const rows = filter.credentialSet ? this.backend.all<Row>(SQL.listSet, filter.credentialSet) : this.backend.all<Row>(SQL.listAll);
    // Most rows of a store share a few facts texts (every API key's is the same): each is parsed once.
    const parsed = new Map<string, RowMeta | null>();
    const metaOf = (text: string) => {
      let meta = parsed.get(text);
      if (meta === undefined) parsed.set(text, (meta = parseMeta(text)));
      return meta;
    };
    return rows.map((row) => toInfo(row, row.meta === null ? null : metaOf(row.meta)));
  }

  /**
   * Rewrites the facts of the named rows in one transaction: `update` gets each row's current
   * facts and its payload (JSON text, read inside the transaction, so a refresh meanwhile is
   * seen), and its answer is sealed with the payload. Payload, preview, expiry and times stay as
   * they were. Returns how many rows were found.
   */
  annotate(
    rows: ReadonlyArray<{ credentialSet: string; provider: string }>,
    update: (row: { credentialSet: string; provider: string; current: RowMeta | null; kind: CredentialKind; payloadJson: string }) => RowMeta,
  ): number {
    this.assertWritable();
    const key = this.requireKey();
    const found = this.backend.exclusive((tx) => {
      let n = 0;
      for (const { credentialSet, provider } of rows) {
        const row = tx.get<SecretRow>(SQL.get, credentialSet, provider);
        if (!row) continue;
        const plaintext = open(key, row, rowAad(row));
        if (!plaintext) throw doesNotDecrypt(credentialSet, provider);
        const meta = JSON.stringify(update({ credentialSet, provider, current: parseMeta(row.meta), kind: row.kind, payloadJson: plaintext.toString("utf8") }));
        const sealed = seal(key, plaintext, rowAad({ ...row, meta }));
        tx.run(SQL.reseal, sealed.nonce, sealed.ciphertext, meta, credentialSet, provider);
        n++;
      }
      return n;
    });
    this.opened.clear();
    return found;
  }

  remove(credentialSet: string, provider: string): boolean {
    return this.backend.exclusive((tx) => tx.run(SQL.remove, credentialSet, provider).changes > 0);
  }

  /**
   * Every credentials row as stored (still sealed) and the key's meta rows: a row is sealed with
   * its set, provider and kind as associated data, never its location, so it opens in any store
   * holding the same key check. Needs no key, and works on a store opened read-only.
   */
  sealedRows(): { rows: SealedRow[]; meta: KeyMeta } {
    const meta: KeyMeta = {};
    for (const key of KEY_META) {
      const value = this.meta(key);
      if (value !== undefined) meta[key] = value;
    }
    return { rows: this.backend.all<SealedRow>(SQL.sealedAll), meta };
  }

  /**
   * Writes rows from `sealedRows` of another store in one transaction, as they are (times
   * included). The key meta rows are added to a store that has none; a store with another key is
   * refused, since the rows would not open in it. Importing the same rows again changes nothing.
   */
  importSealed(rows: readonly SealedRow[], meta: KeyMeta): void {
    this.assertWritable();
    this.backend.exclusive((tx) => {
      for (const key of KEY_META) {
        const given = meta[key];
        const have = tx.get<{ value: string }>(SQL.getMeta, key)?.value;
        if (given === undefined || have === given) continue;
        if (have !== undefined) {
          throw new StoreError(`${this.path} already has another store key (its ${key} differs): the rows would not open there; nothing was copied`);
        }
        tx.run(SQL.addMeta, key, given);
      }
      for (const row of rows) tx.run(SQL.upsert, ...upsertParams(row));
    });
    this.opened.clear();
  }

  /**
   * Records a credential's lifecycle event (stored, captured, refreshed, removed) in this home's
   * audit log: names and kind only, never the payload.
   */
  audit(op: LifecycleOp, credentialSet: string, provider: string, kind?: string): void {
    this.auditLog ??= new AuditLog(auditPath(this.home), () => this.clock.now(), { keeper: () => this.auditKeeper(), maxBytes: auditMaxBytes(this.env) });
    this.auditLog.record({ actor: "local", op, target: `${credentialSet}:${provider}`, allowed: true, ...(kind ? { kind } : {}), pid: process.pid });
  }

  /**
   * What this home's audit log needs from the store: its write lock (released even by a process
   * that dies), the checkpoint key, and the newest checkpoint kept in `meta`.
   */
  auditKeeper(): AuditKeeper {
    return {
      // A shared database's lock would tie this home's file to every host and to the database being up.
      exclusive: (fn) => (this.backend.shared ? (this.homeLock ??= new HomeLock(this.home, 15_000)).exclusive(fn) : this.backend.exclusive(() => fn())),
      checkpointKey: () => {
        // Never creates a key, runs a passphrase command or asks the keyring just to sign: a later
        // writer holding the key signs these lines too (a checkpoint covers the whole chain before it).
        if (!this.storeKey.unlocked && this.keyKind !== "keyfile") return undefined;
        try {
          return this.subkey(CHECKPOINT_KEY_LABEL);
        } catch (error) {
          if (error instanceof StoreLockedError) return undefined;
          throw error;
        }
      },
      saveCheckpoint: (line) => void this.backend.exclusive((tx) => tx.run(SQL.setMeta, this.checkpointMetaKey(), line)),
    };
  }

  /** The newest checkpoint line the audit log's writers signed, for `audit verify`. */
  lastAuditCheckpoint(): string | undefined {
    return this.meta(this.checkpointMetaKey());
  }

  /**
   * A key for another purpose derived from the store key (HMAC-SHA256 over `label`), e.g. the
   * local service's admin signatures: proves knowledge of the store key without exposing it.
   */
  subkey(label: string): Buffer {
    return subkeyOf(this.requireKey(), label);
  }

  /**
   * Changes whenever anything is committed to the store, by another process or host or through
   * this store: lets a hot path keep what it read (the proxy's verified phantoms) and still see a
   * revocation at its next read.
   */
  generation(): string {
    return this.backend.generation();
  }

  /**
   * For modules that own tables of their own (the proxy's phantom tokens, the leases): `fn` runs
   * inside one write transaction holding the store's write lock, so a read-then-write in it is
   * atomic across processes (and hosts, on PostgreSQL). Its SQL is the portable subset (`SqlTx`).
   */
  exclusive<T>(fn: (tx: SqlTx) => T): T {
    return this.backend.exclusive(fn);
  }

  /**
   * Reads of those tables that take no lock: each statement sees what was committed when it ran.
   * On PostgreSQL the write lock is the whole fleet's, so a lookup (a phantom presented to the
   * proxy) must not queue behind every host's writers.
   */
  read<T>(fn: (sql: SqlRead) => T): T {
    return fn(this.backend);
  }

  /**
   * Runs `fn` as the one holder of `key` among all processes on this store (one refresher per
   * login); a holder that died or outlived `ttlMs` is taken over.
   */
  lease<T>(key: string, ttlMs: number, fn: () => Promise<T>, options?: LeaseOptions): Promise<T> {
    return withLease({ exclusive: (run) => this.exclusive(run), now: () => this.clock.now() }, key, ttlMs, fn, options);
  }

  integrityCheck(): string {
    return this.backend.integrityCheck();
  }

  close(): void {
    this.opened.clear();
    try {
      if (!this.closed) this.auditLog?.close();
    } finally {
      this.auditLog = undefined;
      this.closed = true;
      this.homeLock?.close();
      this.backend.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private assertWritable(): void {
    const readOnly = this.backend.readOnly;
    if (readOnly) throw new StoreError(readOnly.message, { cause: readOnly.cause });
  }

  /**
   * The audit log is a file of this home; on a store shared by several homes each keeps its own
   * checkpoint row, or one host's checkpoint would overwrite another's.
   */
  private checkpointMetaKey(): string {
    return this.backend.shared ? `audit_checkpoint:${hostname()}:${this.home}` : "audit_checkpoint";
  }

  private meta(key: string): string | undefined {
    return this.backend.get<{ value: string }>(SQL.getMeta, key)?.value;
  }

  private requireKey(): Buffer {
    return this.storeKey.require();
  }
}
