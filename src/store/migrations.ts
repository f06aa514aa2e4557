import type Database from "better-sqlite3";

/** Each entry moves the schema from version i to i+1; never edit a shipped one, append. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE credentials (
        credential_set TEXT    NOT NULL,
        provider       TEXT    NOT NULL,
        kind           TEXT    NOT NULL,
        nonce          BLOB    NOT NULL,
        ciphertext     BLOB    NOT NULL,
        preview        TEXT    NOT NULL,
        expires_at     INTEGER,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (credential_set, provider)
      ) WITHOUT ROWID;
    `);
  },
  (db) => {
    // Credential proxy (issue 10): phantom tokens are stored only as sha256 hashes; a lease per
    // (set, provider) makes one process at a time the refresher of a single-use refresh token.
    db.exec(`
      CREATE TABLE phantom_tokens (
        token_hash     TEXT    PRIMARY KEY,
        session_id     TEXT    NOT NULL,
        credential_set TEXT    NOT NULL,
        provider       TEXT    NOT NULL,
        purpose        TEXT    NOT NULL,
        expires_at     INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        revoked_at     INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX phantom_tokens_session ON phantom_tokens (session_id);
      CREATE TABLE refresh_leases (
        credential_set TEXT    NOT NULL,
        provider       TEXT    NOT NULL,
        holder         TEXT    NOT NULL,
        expires_at     INTEGER NOT NULL,
        PRIMARY KEY (credential_set, provider)
      ) WITHOUT ROWID;
    `);
  },
  (db) => {
    // Proxy policy per agent session (issue 23): what the session was narrowed to at mint time,
    // per provider, kept apart from the phantoms so exchanged ones keep it.
    db.exec(`
      CREATE TABLE session_policies (
        session_id TEXT    NOT NULL,
        provider   TEXT    NOT NULL,
        policy     TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, provider)
      ) WITHOUT ROWID;
    `);
  },
  (db) => {
    // One lease primitive (store.lease) for every "one holder at a time": keyed by any string, with
    // the holder's pid and host so a dead holder's lease ends with it. Replaces refresh_leases.
    db.exec(`
      DROP TABLE refresh_leases;
      CREATE TABLE leases (
        key        TEXT    PRIMARY KEY,
        holder     TEXT    NOT NULL,
        pid        INTEGER NOT NULL,
        host       TEXT    NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  (db) => {
    // A row's non-secret facts (payload type, token expiry, refreshability, checked account), so
    // `status` lists without decrypting; null on rows written before, which are read the old way.
    db.exec("ALTER TABLE credentials ADD COLUMN meta TEXT");
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A store written by a newer authctl is never opened: its rows may mean something this one cannot tell. */
export function assertKnownSchema(version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new Error(`credentials.db has schema version ${version}, newer than this authctl understands (${SCHEMA_VERSION}): upgrade authctl`);
  }
}

/**
 * Brings the schema up to date inside one immediate transaction, so racing openers migrate once.
 * A store already at this version needs nothing: one pragma read, no write lock to wait for (a
 * command that only reads must not queue behind a writer).
 */
export function migrate(db: Database.Database): void {
  if (db.pragma("user_version", { simple: true }) === SCHEMA_VERSION) return;
  const run = db.transaction(() => {
    const current = db.pragma("user_version", { simple: true }) as number;
    assertKnownSchema(current);
    for (let v = current; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    if (current !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  run.immediate();
}
