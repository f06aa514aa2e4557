import Database from "better-sqlite3";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ctxOf } from "./helpers/context.js";
import { afterEach, describe, expect, it } from "vitest";
import { storeApiKey } from "../src/logins/api-key/apiKey.js";
import { getCredentials } from "../src/access/credentials.js";
import { InvalidApiKeyError, MissingCredentialsError, StoreError, StoreLockedError } from "../src/core/errors.js";
import { loadRoster } from "../src/roster/load.js";
import { SCHEMA_VERSION } from "../src/store/migrations.js";
import { CredentialStore } from "../src/store/store.js";
import { canary, tempHome } from "./helpers/env.js";
import { exitCodeOf } from "../src/cli/exitCodes.js";

const roster = loadRoster();
let cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function freshStore(env: NodeJS.ProcessEnv = {}) {
  const t = tempHome();
  const store = CredentialStore.open({ home: t.home, env });
  cleanups.push(() => {
    store.close();
    t.cleanup();
  });
  return { store, home: t.home };
}

function fileBytes(home: string): Buffer {
  return Buffer.concat(
    ["credentials.db", "credentials.db-wal", "credentials.db-shm"]
      .map((f) => join(home, f))
      .filter(existsSync)
      .map((f) => readFileSync(f)),
  );
}

describe("credential store", () => {
  it("round-trips an API key and lists it without decrypting", () => {
    const { store } = freshStore();
    const key = canary("sk-ant-");
    const summary = storeApiKey("anthropic", key, { credentialSet: "ci", context: ctxOf(store, roster) });
    expect(summary.preview).toBe(`sk-…${key.slice(-4)}`);
    expect(getCredentials("anthropic", { credentialSet: "ci", context: ctxOf(store, roster) }).payload).toEqual({ type: "api_key", key });
    const [row] = store.list();
    expect(row).toMatchObject({ credentialSet: "ci", provider: "anthropic", kind: "api_key", preview: summary.preview });
    expect(JSON.stringify(store.list())).not.toContain(key);
  });

  it("creates the home 0700 and the database and key file 0600", () => {
    const { store, home } = freshStore();
    storeApiKey("openai", canary("sk-"), { context: ctxOf(store, roster) });
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, "credentials.db")).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, "store.key")).mode & 0o777).toBe(0o600);
  });

  it("never writes the plaintext secret into the DB, WAL or SHM bytes", () => {
    const { store, home } = freshStore();
    const key = canary("sk-or-");
    storeApiKey("openrouter", key, { context: ctxOf(store, roster) });
    storeApiKey("openrouter", canary("sk-or-"), { credentialSet: "other", context: ctxOf(store, roster) });
    const bytes = fileBytes(home);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from(key))).toBe(false);
    expect(bytes.includes(Buffer.from(key.slice(6)))).toBe(false);
  });

  it("refuses rows swapped between (set, provider) slots", () => {
    const { store, home } = freshStore();
    storeApiKey("openai", canary("sk-"), { credentialSet: "a", context: ctxOf(store, roster) });
    storeApiKey("openai", canary("sk-"), { credentialSet: "b", context: ctxOf(store, roster) });
    const db = new Database(join(home, "credentials.db"));
    const a = db.prepare("SELECT nonce, ciphertext FROM credentials WHERE credential_set = 'a'").get() as { nonce: Buffer; ciphertext: Buffer };
    db.prepare("UPDATE credentials SET nonce = ?, ciphertext = ? WHERE credential_set = 'b'").run(a.nonce, a.ciphertext);
    db.close();
    expect(() => store.get("b", "openai")).toThrow(StoreError);
    expect(() => store.get("b", "openai")).toThrow(/b:openai does not decrypt/);
    expect(store.get("a", "openai")).toBeDefined();
  });

  it("a wrong passphrase is a clear error and loses nothing", () => {
    const t = tempHome();
    cleanups.push(t.cleanup);
    const key = canary("sk_test_");
    const right = CredentialStore.open({ home: t.home, env: { AUTHCTL_PASSPHRASE: "correct horse" } });
    storeApiKey("stripe", key, { context: ctxOf(right, roster) });
    expect(right.keySource).toBe("AUTHCTL_PASSPHRASE");
    right.close();

    const wrong = CredentialStore.open({ home: t.home, env: { AUTHCTL_PASSPHRASE: "wrong horse" } });
    expect(() => wrong.get("default", "stripe")).toThrow(StoreLockedError);
    expect(() => storeApiKey("stripe", canary("sk_test_"), { context: ctxOf(wrong, roster) })).toThrow(/wrong passphrase/);
    wrong.close();

    const none = CredentialStore.open({ home: t.home, env: {} });
    expect(() => none.get("default", "stripe")).toThrow(/protected by a passphrase: set AUTHCTL_PASSPHRASE/);
    none.close();

    const again = CredentialStore.open({ home: t.home, env: { AUTHCTL_PASSPHRASE_COMMAND: "printf 'correct horse'" } });
    expect(again.get("default", "stripe")?.payload).toEqual({ type: "api_key", key });
    expect(again.keySource).toBe("AUTHCTL_PASSPHRASE_COMMAND");
    again.close();
  });

  it("a passphrase command that prints nothing fails closed", () => {
    const { store } = freshStore({ AUTHCTL_PASSPHRASE_COMMAND: "true" });
    expect(() => storeApiKey("openai", canary("sk-"), { context: ctxOf(store, roster) })).toThrow(/printed nothing; the store stays locked/);
    expect(store.list()).toEqual([]);
  });

  it("validates keys and names the expected prefixes, never echoing the key", () => {
    const { store } = freshStore();
    const bad = canary("pk_live_");
    for (const [key, message] of [
      ["", /is empty/],
      ["   ", /only whitespace/],
      [`sk_test_${"a".repeat(20)}\n`, /whitespace or control characters/],
      [`sk_test_a\u0007b${"c".repeat(20)}`, /control characters/],
      [bad, /expected it to start with "sk_live_" or "sk_test_" or "rk_live_" or "rk_test_"; get one at https:\/\/dashboard\.stripe\.com/],
    ] as const) {
      let caught: unknown;
      try {
        storeApiKey("stripe", key, { context: ctxOf(store, roster) });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidApiKeyError);
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message).not.toContain(bad);
    }
    expect(store.list()).toEqual([]);
  });

  it("a failed write keeps the previous credential", () => {
    const { store } = freshStore();
    const first = canary("sk-ant-");
    storeApiKey("anthropic", first, { context: ctxOf(store, roster) });
    expect(() => storeApiKey("anthropic", "not-a-key-at-all", { context: ctxOf(store, roster) })).toThrow(InvalidApiKeyError);
    expect(getCredentials<{ key: string }>("anthropic", { context: ctxOf(store, roster) }).payload.key).toBe(first);
  });

  it("missing credentials carry the exact command that fixes them", () => {
    const { store } = freshStore();
    const read = (provider: string, credentialSet?: string) => {
      try {
        getCredentials(provider, { credentialSet, context: ctxOf(store, roster) });
      } catch (e) {
        return e as MissingCredentialsError;
      }
      throw new Error("expected MissingCredentialsError");
    };
    expect(read("stripe", "efs").fixCommand).toBe("authctl key stripe --set efs");
    expect(read("claude").fixCommand).toBe("authctl auth claude");
    expect(exitCodeOf(read("claude"))).toBe(3);
  });

  it("migrates a fresh file to the current schema version once", () => {
    const { store, home } = freshStore();
    store.close();
    const reopened = CredentialStore.open({ home, env: {} });
    const db = new Database(join(home, "credentials.db"));
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    expect(reopened.integrityCheck()).toBe("ok");
    reopened.close();
  });
});
