import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { copyKeyFile } from "./harness.js";

type Digests = Record<string, string>;

/** Each credential's payload digest, as `store migrate` compares them: what a lost or altered row would change. */
function digests(home: string, url?: string): Digests {
  using store = CredentialStore.open({ home, env: { AUTHCTL_STORE_KEY: "file", ...(url ? { AUTHCTL_STORE_URL: url } : {}) } });
  return Object.fromEntries(
    store.list().map((i) => [`${i.credentialSet}:${i.provider}`, createHash("sha256").update(JSON.stringify(store.get(i.credentialSet, i.provider)!.payload)).digest("hex")]),
  );
}

/** The rows exactly as stored (nonce and ciphertext included): the source must not change by a byte. */
function sealed(home: string, url?: string): string {
  using store = CredentialStore.open({ home, env: { AUTHCTL_STORE_KEY: "file", ...(url ? { AUTHCTL_STORE_URL: url } : {}) } });
  return JSON.stringify(store.sealedRows(), (_k, v: unknown) => (v && typeof v === "object" && (v as { type?: string }).type === "Buffer" ? Buffer.from((v as { data: number[] }).data).toString("hex") : v));
}

describe("authctl store migrate: SQLite to PostgreSQL and back, every row verified", () => {
  const { home, cleanup } = tempHome("authctl-migrate-");
  const back = tempHome("authctl-migrate-back-");
  const keys = { anthropic: canary("sk-ant-"), openai: canary("sk-proj-"), work: canary("sk-ant-work-") };
  let pg: PostgresCluster | undefined;
  let url: string;

  beforeAll(async () => {
    pg = await startPostgres();
    if (!pg) return;
    url = await pg.database("migrate");
    for (const [provider, set, key] of [["anthropic", "default", keys.anthropic], ["openai", "default", keys.openai], ["anthropic", "work", keys.work]] as const) {
      const r = await authctl(home, ["key", provider, "--set", set, "--stdin", "--force"], { input: key });
      expect(r.exitCode, String(r.stderr)).toBe(0);
    }
  });

  afterAll(async () => {
    await pg?.stop();
    back.cleanup();
    cleanup();
  });

  const leaks = (r: { stdout: unknown; stderr: unknown }) => {
    const text = `${String(r.stdout)}\n${String(r.stderr)}`;
    for (const key of Object.values(keys)) expect(text).not.toContain(key);
    expect(text).not.toContain(new URL(url).password);
  };

  it("copies every row sealed, verifies it on PostgreSQL, and leaves the SQLite source as it was", async ({ skip }) => {
    if (!pg) return skip();
    const source = sealed(home);
    const r = await authctl(home, ["store", "migrate", "--to", url, "--json"]);
    leaks(r);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toEqual({ copied: 3, identical: 0, verified: 3 });
    expect(sealed(home)).toBe(source);
    expect(digests(home, url)).toEqual(digests(home));
    // Sealed as they were: the same nonce and ciphertext on both sides.
    expect(sealed(home, url).includes(JSON.parse(source).rows[0].nonce)).toBe(true);
  });

  it("a second run is a no-op: 0 copied, all already identical", async ({ skip }) => {
    if (!pg) return skip();
    const before = sealed(home, url);
    const r = await authctl(home, ["store", "migrate", "--to", url]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain("0 copied, 3 already identical, 3 verified");
    expect(sealed(home, url)).toBe(before);
  });

  it("a target holding a different credential for the same set and provider is refused naming it, unless --overwrite", async ({ skip }) => {
    if (!pg) return skip();
    const other = canary("sk-ant-other-");
    const put = await authctl(home, ["key", "anthropic", "--set", "work", "--stdin", "--force"], { input: other, extraEnv: { AUTHCTL_STORE_URL: url } });
    expect(put.exitCode, String(put.stderr)).toBe(0);
    const before = sealed(home, url);
    const refused = await authctl(home, ["store", "migrate", "--to", url]);
    leaks(refused);
    expect(refused.exitCode).toBe(1);
    expect(String(refused.stderr)).toContain("work:anthropic");
    expect(String(refused.stderr)).toContain("--overwrite");
    expect(sealed(home, url)).toBe(before);
    const forced = await authctl(home, ["store", "migrate", "--to", url, "--overwrite", "--json"]);
    expect(forced.exitCode, String(forced.stderr)).toBe(0);
    expect(JSON.parse(String(forced.stdout))).toEqual({ copied: 1, identical: 2, verified: 3 });
    expect(digests(home, url)).toEqual(digests(home));
  });

  it("and back: from PostgreSQL (the current store) into another host's SQLite home holding a copy of the key file", async ({ skip }) => {
    if (!pg) return skip();
    copyKeyFile(home, back.home);
    const r = await authctl(back.home, ["store", "migrate", "--to", "sqlite", "--json"], { extraEnv: { AUTHCTL_STORE_URL: url } });
    leaks(r);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toEqual({ copied: 3, identical: 0, verified: 3 });
    expect(digests(back.home)).toEqual(digests(home, url));
    const again = await authctl(back.home, ["store", "migrate", "--to", "sqlite", "--json"], { extraEnv: { AUTHCTL_STORE_URL: url } });
    expect(JSON.parse(String(again.stdout))).toEqual({ copied: 0, identical: 3, verified: 3 });
  });

  it("a target sealed with another store key is refused before anything is copied", async ({ skip }) => {
    if (!pg) return skip();
    const stranger = tempHome("authctl-migrate-stranger-");
    try {
      const put = await authctl(stranger.home, ["key", "openai", "--stdin", "--force"], { input: canary("sk-proj-") });
      expect(put.exitCode).toBe(0);
      const before = sealed(home, url);
      const r = await authctl(stranger.home, ["store", "migrate", "--to", url]);
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr)).toMatch(/sealed with another store key/);
      expect(sealed(home, url)).toBe(before);
    } finally {
      stranger.cleanup();
    }
  });

  it("an unreachable URL: one line naming host:port/db, never the password, exit 1", async ({ skip }) => {
    if (!pg) return skip();
    const password = canary("pw");
    const r = await authctl(home, ["store", "migrate", "--to", `postgres://fleet:${password}@127.0.0.1:9/nowhere`], { timeout: 60_000 });
    expect(r.exitCode).toBe(1);
    const lines = String(r.stderr).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("127.0.0.1:9/nowhere");
    expect(String(r.stderr) + String(r.stdout)).not.toContain(password);
  });
});
