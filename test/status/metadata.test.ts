import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { recordCredential } from "../../src/credentials/index.js";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, childEnv, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { writeUserRoster } from "../helpers/host-roster.js";
import { runInProcess } from "../helpers/memory-io.js";

const HOUR = 3600_000;

type Login = { credentialSet: string; provider: string; state: string; kind: string; preview: string; expiresAt: string | null; identity?: string };
const loginsOf = (stdout: string) => Object.fromEntries((JSON.parse(stdout) as { logins: Login[] }).logins.map((l) => [`${l.credentialSet}:${l.provider}`, l]));

describe("status and creds list read each row's facts, not its payload", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  const secrets: string[] = [];
  const record = (credentialSet: string, provider: string, payload: unknown) => {
    using store = CredentialStore.open({ home, env });
    recordCredential({ store: () => store }, { credentialSet, provider, payload });
  };
  /** Runs a command in-process; no secret shows but what `token` is asked for. */
  const run = async (args: string[]) => {
    const r = await runInProcess(env, args);
    const shown = args[0] === "token" ? r.stderr : r.stdout + r.stderr;
    for (const secret of secrets) expect(shown).not.toContain(secret);
    return r;
  };
  const sql = () => new Database(join(home, "credentials.db"));

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = childEnv(home);
    secrets.length = 0;
  });
  afterEach(() => cleanup());

  it("a row whose sealed payload is corrupted still lists from its facts; creds show and token fail naming the row", async () => {
    const [good, broken, refresh] = [canary("sk-"), canary("sk-"), canary("rt_")];
    secrets.push(good, broken, refresh);
    record("default", "openai", { type: "api_key", key: good });
    record("default", "anthropic", { type: "api_key", key: broken });
    // An OAuth 2.0 login whose access token lapses within the day and that holds a refresh token.
    record("default", "github-oauth", { type: "oauth2", clientId: "c", access_token: canary("gho_"), refresh_token: refresh, expires_at: Date.now() + 2 * HOUR });
    {
      const db = sql();
      const { ciphertext } = db.prepare("SELECT ciphertext FROM credentials WHERE provider = 'anthropic'").get() as { ciphertext: Buffer };
      ciphertext[0]! ^= 0xff;
      db.prepare("UPDATE credentials SET ciphertext = ? WHERE provider = 'anthropic'").run(ciphertext);
      // Every payload of the store but these two is unreadable: status must not need them.
      const { ciphertext: oauth } = db.prepare("SELECT ciphertext FROM credentials WHERE provider = 'github-oauth'").get() as { ciphertext: Buffer };
      oauth[1]! ^= 0xff;
      db.prepare("UPDATE credentials SET ciphertext = ? WHERE provider = 'github-oauth'").run(oauth);
      db.close();
    }

    const status = await run(["status", "--json"]);
    expect(status.exitCode, status.stderr).toBe(0);
    const logins = loginsOf(status.stdout);
    expect(logins["default:anthropic"]).toMatchObject({ state: "valid", kind: "api_key", preview: `sk-…${broken.slice(-4)}` });
    expect(logins["default:github-oauth"]).toMatchObject({ state: "expiring-refreshable", kind: "device_flow" });
    expect(logins["default:openai"]).toMatchObject({ state: "valid" });

    const list = await run(["creds", "list", "--json"]);
    expect(list.exitCode).toBe(0);
    expect((JSON.parse(list.stdout) as { provider: string }[]).map((c) => c.provider)).toEqual(["anthropic", "github-oauth", "openai"]);

    // Where the payload is read, the row fails, named, with what to do.
    for (const args of [["creds", "show", "anthropic"], ["token", "anthropic"], ["creds", "show", "anthropic", "--json"]]) {
      const r = await run(args);
      expect(r.exitCode, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(/default:anthropic does not decrypt .*store it again/);
    }
    expect((await run(["token", "openai"])).exitCode).toBe(0);
  });

  it("facts changed in the database do not pass: the row no longer opens (they are sealed with it)", async () => {
    const key = canary("sk-");
    secrets.push(key);
    record("default", "openai", { type: "api_key", key });
    for (const change of ["meta = json_set(meta, '$.identity', 'mallory')", "preview = 'sk-…evil'", "expires_at = 1", "meta = NULL"]) {
      const db = sql();
      const before = db.prepare("SELECT meta, preview, expires_at FROM credentials").get() as Record<string, unknown>;
      db.prepare(`UPDATE credentials SET ${change}`).run();
      db.close();
      const r = await run(["token", "openai"]);
      expect(r.exitCode, change).toBe(1);
      expect(r.stderr, change).toMatch(/default:openai does not decrypt/);
      const restore = sql();
      restore.prepare("UPDATE credentials SET meta = ?, preview = ?, expires_at = ?").run(before.meta as string, before.preview as string, before.expires_at as number | null);
      restore.close();
      expect((await run(["token", "openai"])).stdout.trim(), change).toBe(key);
    }
  });

  it("a row written before rows kept facts is listed right (its payload read once), then gets its facts and stays readable", async () => {
    const [access, refresh] = [canary("gho_"), canary("rt_")];
    secrets.push(access, refresh);
    const expires = Date.now() + 2 * HOUR;
    {
      // As an older authctl wrote it: no facts (store.put with no meta), the row's own expiry empty.
      using store = CredentialStore.open({ home, env });
      store.put("default", "github-oauth", "device_flow", { type: "oauth2", clientId: "c", access_token: access, refresh_token: refresh, expires_at: expires }, { preview: "gho…old" });
      store.put("ci", "openai", "api_key", { key: canary("sk-") }, { preview: "sk-…0001" });
      expect(store.info("default", "github-oauth")!.meta).toBeNull();
    }
    {
      // And in a file of the schema before facts (version 4, no meta column): opening it migrates it.
      const db = sql();
      db.exec("ALTER TABLE credentials DROP COLUMN meta");
      db.pragma("user_version = 4");
      db.close();
    }
    for (const round of ["payload read", "facts read"]) {
      const r = await run(["status", "--json"]);
      expect(r.exitCode, round).toBe(0);
      const logins = loginsOf(r.stdout);
      expect(logins["default:github-oauth"], round).toMatchObject({ state: "expiring-refreshable", expiresAt: new Date(expires).toISOString(), preview: "gho…old" });
      expect(logins["ci:openai"], round).toMatchObject({ state: "valid", kind: "api_key" });
    }
    using store = CredentialStore.open({ home, env });
    expect(store.info("default", "github-oauth")!.meta).toEqual({ type: "oauth2", tokenExpiresAt: expires, refreshToken: true });
    expect(store.info("ci", "openai")!.meta).toEqual({ type: "api_key" });
    // Resealed with its facts, payload and times unchanged: it still delivers.
    expect((await run(["token", "github-oauth"])).stdout.trim()).toBe(access);
  });

  it("the account `status --check` finds is kept with the row: plain status, creds show and creds list show it (table and JSON)", async () => {
    const token = canary("gho_");
    secrets.push(token);
    const upstream = await fakeUpstream((req, res) => {
      if (req.url === "/user" && req.headers.authorization === `Bearer ${token}`) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ login: "octocat" }));
      else res.writeHead(401).end();
    });
    try {
      const gh = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "gh.yaml"), "utf8"));
      gh.proxy.oauth.base_url = upstream.url;
      writeUserRoster(home, gh);
      record("default", "gh", { type: "oauth", provider: "gh", files: { "hosts.yml": `oauth_token: ${token}\n` }, accessToken: token });
      // Another login, never probed (the check is narrowed to the set): it gets no account.
      record("ci", "openai", { type: "api_key", key: canary("sk-") });
      expect(loginsOf((await run(["status", "--json"])).stdout)["default:gh"]!.identity).toBeUndefined();

      const checked = await run(["status", "--check", "--set", "default", "--json"]);
      expect(checked.exitCode, checked.stderr).toBe(0);
      expect(loginsOf(checked.stdout)["default:gh"]).toMatchObject({ identity: "octocat" });

      const plain = await run(["status", "--json"]);
      expect(loginsOf(plain.stdout)["default:gh"]).toMatchObject({ identity: "octocat", state: "valid" });
      expect(loginsOf(plain.stdout)["ci:openai"]!.identity).toBeUndefined();
      expect((await run(["status"])).stdout).toMatch(/PROVIDER\s+STATE.*ACCOUNT[\s\S]*default\s+gh\s+valid.*octocat/);
      expect(JSON.parse((await run(["creds", "show", "gh", "--json"])).stdout)).toMatchObject({ provider: "gh", identity: "octocat" });
      expect((await run(["creds", "show", "gh"])).stdout).toMatch(/account\s+octocat/);
      expect((JSON.parse((await run(["creds", "list", "--json"])).stdout) as { provider: string; identity?: string }[]).find((c) => c.provider === "gh")).toMatchObject({ identity: "octocat" });
      // Only the check asked the vendor.
      expect(upstream.arrivals).toHaveLength(1);
      // A refresh (same login, new tokens) keeps the account; a new login does not.
      {
        using store = CredentialStore.open({ home, env });
        const payload = { type: "oauth", provider: "gh", files: {}, accessToken: token };
        recordCredential({ store: () => store }, { credentialSet: "default", provider: "gh", payload, op: "refreshed" });
        expect(store.info("default", "gh")!.meta).toMatchObject({ identity: "octocat" });
        recordCredential({ store: () => store }, { credentialSet: "default", provider: "gh", payload, op: "captured" });
        expect(store.info("default", "gh")!.meta).toEqual({ type: "oauth" });
      }
    } finally {
      await upstream.close();
    }
  });
});
