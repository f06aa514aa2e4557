import Database from "better-sqlite3";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { SCHEMA_VERSION } from "../../src/store/migrations.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv, ctxOf } from "../helpers/context.js";
import { authctl, canary, tempHome } from "../helpers/env.js";

/**
 * What opening the store costs a command that only reads it (`creds list`, `status`): a store at
 * the current schema needs no migration, so opening it takes no write lock and never waits for one.
 */
describe("a read-only command opens a store at the current schema without taking the write lock", () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);

  it("lists and checks the key while another connection holds the write lock", () => {
    const secret = canary("sk-open-");
    const seeding = CredentialStore.open({ home, env: baseEnv() });
    storeApiKey("openai", secret, { context: ctxOf(seeding) });
    seeding.close();
    const writer = new Database(join(home, "credentials.db"));
    try {
      expect(writer.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      writer.prepare("BEGIN IMMEDIATE").run();
      const started = Date.now();
      const store = CredentialStore.open({ home, env: baseEnv(), busyTimeoutMs: 300 });
      try {
        expect(store.list().map((r) => `${r.credentialSet}:${r.provider}`)).toEqual(["default:openai"]);
        store.verifyKey();
        expect(store.get<{ key: string }>("default", "openai")?.payload.key).toBe(secret);
      } finally {
        store.close();
      }
      expect(Date.now() - started).toBeLessThan(300);
    } finally {
      writer.prepare("ROLLBACK").run();
      writer.close();
    }
  });

  it("an older store is still migrated on open (inside the write lock)", () => {
    const old = tempHome();
    try {
      mkdirSync(old.home, { recursive: true, mode: 0o700 });
      const db = new Database(join(old.home, "credentials.db"));
      db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID; CREATE TABLE credentials (credential_set TEXT NOT NULL, provider TEXT NOT NULL, kind TEXT NOT NULL, nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, preview TEXT NOT NULL, expires_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (credential_set, provider)) WITHOUT ROWID;");
      db.pragma("user_version = 1");
      db.close();
      const store = CredentialStore.open({ home: old.home, env: {} });
      store.close();
      const after = new Database(join(old.home, "credentials.db"), { readonly: true });
      try {
        expect(after.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
        expect(after.prepare("SELECT name FROM pragma_table_info('credentials') WHERE name = 'meta'").pluck().get()).toBe("meta");
      } finally {
        after.close();
      }
    } finally {
      old.cleanup();
    }
  });
});

describe("the built `creds list` and `status` load none of the audit log's timing module", () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);

  it("node:perf_hooks (a dozen internal modules) loads only when an audit line is written", async () => {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const hook = join(home, "..", "builtins.cjs");
    writeFileSync(hook, `process.on("exit", () => { for (const m of process.moduleLoadList) if (m.startsWith("NativeModule ")) process._rawDebug("BUILTIN " + m.slice(13)); });\n`);
    const secret = canary("sk-builtins-");
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: secret })).exitCode).toBe(0);
    for (const args of [["creds", "list"], ["status"]]) {
      const result = await authctl(home, args, { extraEnv: { NODE_OPTIONS: `--require=${hook}` } });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/default\s+openai/);
      expect(result.stdout + result.stderr).not.toContain(secret);
      const builtins = [...result.stderr.matchAll(/^BUILTIN (\S+)$/gm)].map((m) => m[1]);
      expect(builtins).toContain("fs");
      // A piped stdout is a net socket, which loads internal/perf/observe itself: that part is Node's.
      expect(builtins.filter((b) => ["perf_hooks", "internal/perf/performance", "internal/perf/usertiming", "internal/perf/timerify"].includes(b!))).toEqual([]);
    }
  });
});
