/**
 * The PostgreSQL schema: the same tables and columns as SQLite's (src/store/migrations.ts), BYTEA
 * for blobs and BIGINT for millisecond times. Text keys collate as "C" so listings come out in
 * the byte order SQLite gives. Versioned in `meta` (schema_version); each entry moves the schema
 * from version i to i+1: never edit a shipped one, append.
 */
export const PG_MIGRATIONS: ReadonlyArray<readonly string[]> = [
  [
    `CREATE TABLE credentials (
      credential_set TEXT COLLATE "C" NOT NULL,
      provider       TEXT COLLATE "C" NOT NULL,
      kind           TEXT   NOT NULL,
      nonce          BYTEA  NOT NULL,
      ciphertext     BYTEA  NOT NULL,
      preview        TEXT   NOT NULL,
      expires_at     BIGINT,
      created_at     BIGINT NOT NULL,
      updated_at     BIGINT NOT NULL,
      PRIMARY KEY (credential_set, provider)
    )`,
    `CREATE TABLE phantom_tokens (
      token_hash     TEXT COLLATE "C" PRIMARY KEY,
      session_id     TEXT COLLATE "C" NOT NULL,
      credential_set TEXT COLLATE "C" NOT NULL,
      provider       TEXT COLLATE "C" NOT NULL,
      purpose        TEXT   NOT NULL,
      expires_at     BIGINT NOT NULL,
      created_at     BIGINT NOT NULL,
      revoked_at     BIGINT
    )`,
    "CREATE INDEX phantom_tokens_session ON phantom_tokens (session_id)",
    `CREATE TABLE session_policies (
      session_id TEXT COLLATE "C" NOT NULL,
      provider   TEXT COLLATE "C" NOT NULL,
      policy     TEXT   NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (session_id, provider)
    )`,
    `CREATE TABLE leases (
      key        TEXT COLLATE "C" PRIMARY KEY,
      holder     TEXT    NOT NULL,
      pid        INTEGER NOT NULL,
      host       TEXT    NOT NULL,
      expires_at BIGINT  NOT NULL
    )`,
  ],
  // A row's non-secret facts, as SQLite's migration 5.
  ["ALTER TABLE credentials ADD COLUMN meta TEXT"],
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** `meta` itself exists before any version can be read from it. */
export const PG_META_TABLE = `CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)`;
