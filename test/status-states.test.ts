import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { createFactory } from "../src/cli/factory.js";
import { runStatus, type StatusRow } from "../src/cli/commands/status.js";
import { BUILTIN_ROSTER_DIR } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { memoryIO } from "./helpers/memory-io.js";

const HOUR = 3600_000;
const NOW = Date.parse("2026-11-23T12:00:00Z");

/** A captured vendor login as the container capture stores it (type `oauth`). */
function containerLogin(provider: string, access: string, refresh?: string) {
  return { type: "oauth", provider, files: { "creds.json": JSON.stringify({ access, refresh }) }, accessToken: access, ...(refresh ? { refreshToken: refresh } : {}) };
}

/** Replaces a shipped provider in the home's user roster, e.g. to point its upstream at a fake. */
function overrideProvider(home: string, provider: string, edit: (entry: Record<string, any>) => void): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, `${provider}.yaml`), "utf8"));
  edit(entry);
  mkdirSync(join(home, "agents"), { recursive: true });
  writeFileSync(join(home, "agents", `${provider}.yaml`), stringify(entry));
}

/** A loopback port nothing listens on: one the kernel just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type StatusJson = { logins: StatusRow[]; lockProblem: string | null };

describe("status tells the truth: one state per login from its typed credential", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  const secrets: string[] = [];
  const secret = (prefix = "") => {
    const s = canary(prefix);
    secrets.push(s);
    return s;
  };

  async function status(opts: { set?: string; require?: string; json?: boolean; check?: boolean }, extraEnv: Record<string, string> = {}) {
    const m = memoryIO({ ...env, ...extraEnv });
    const f = createFactory(m.io, new AbortController().signal);
    try {
      const code = await runStatus(f, { ...opts, clock: { now: () => NOW } });
      const stdout = m.stdout();
      const stderr = m.stderr();
      for (const s of secrets) expect(stdout + stderr).not.toContain(s);
      return { code, stdout, stderr };
    } finally {
      f.close();
    }
  }

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = { ...baseEnv(), AUTHCTL_HOME: home, NO_COLOR: "1" };
  });
  afterEach(() => cleanup());

  it("valid, expiring/expired that refresh, expiring/expired that need a login, unknown, missing", async () => {
    {
      using store = CredentialStore.open({ home, env });
      const put = (provider: string, kind: "api_key" | "oauth" | "device_flow", payload: unknown, expiresAt: Date | null) =>
        store.put("default", provider, kind, payload, { preview: "****", expiresAt });
      put("stripe", "api_key", { type: "api_key", key: secret("sk_test_") }, null);
      // claude's roster names a refresher (proxy.oauth.refresh): an expiring token renews itself.
      put("claude", "oauth", containerLogin("claude", secret(), secret()), new Date(NOW + 2 * HOUR));
      put("codex", "oauth", containerLogin("codex", secret(), secret()), new Date(NOW - HOUR));
      // gh has no refresh token; gemini has one but nothing in authctl refreshes a gemini login.
      put("gh", "oauth", containerLogin("gh", secret("gho_")), new Date(NOW + 3 * HOUR));
      put("gemini", "oauth", containerLogin("gemini", secret(), secret()), new Date(NOW - 2 * HOUR));
      // A generic OAuth 2.0 login: the row never expires, its access token does, and the strategy refreshes it.
      put("github-oauth", "device_flow", { type: "oauth2", clientId: "Iv1.test", access_token: secret(), refresh_token: secret(), expires_at: NOW + 30 * 60_000 }, null);
      put("openai", "api_key", { type: "no-such-type", value: secret() }, null);
    }
    const r = await status({ json: true, require: "stripe,anthropic" });
    expect(r.code).toBe(3);
    const rows = (JSON.parse(r.stdout) as StatusJson).logins;
    const by = Object.fromEntries(rows.map((l) => [l.provider, l]));
    expect(Object.fromEntries(rows.map((l) => [l.provider, l.state]))).toEqual({
      stripe: "valid",
      claude: "expiring-refreshable",
      codex: "expired-refreshable",
      gh: "expiring",
      gemini: "expired",
      "github-oauth": "expiring-refreshable",
      openai: "unknown",
      anthropic: "missing",
    });
    expect(by.claude).toMatchObject({ label: "expiring in 2h, will refresh", refreshable: true, expiresAt: new Date(NOW + 2 * HOUR).toISOString() });
    expect(by.gh).toMatchObject({ label: "expiring in 3h, needs login", refreshable: false });
    expect(by.gemini).toMatchObject({ label: "expired 2h ago, needs login", refreshable: false });
    expect(by.codex!.label).toBe("expired 1h ago, will refresh");
    expect(by["github-oauth"]).toMatchObject({ expiresAt: new Date(NOW + 30 * 60_000).toISOString(), label: "expiring in 30m, will refresh" });
    expect(by.openai!.label).toMatch(/^unknown: default:openai: the api_key payload is of no known type/);
    expect(by.anthropic).toMatchObject({ state: "missing", fix: "authctl key anthropic" });

    const table = await status({});
    expect(table.stdout).toMatch(/default\s+claude\s+expiring in 2h, will refresh/);
    expect(table.stdout).toMatch(/default\s+gh\s+expiring in 3h, needs login/);
  });

  it("locked: a passphrase store with no passphrase at hand shows every stored login as locked, exit 1", async () => {
    const passphrase = "correct horse battery staple";
    {
      using store = CredentialStore.open({ home, env: { ...env, AUTHCTL_PASSPHRASE: passphrase } });
      store.unlockWithPassphrase(passphrase);
      store.put("default", "stripe", "api_key", { type: "api_key", key: secret("sk_test_") }, { preview: "sk_…abcd" });
    }
    const r = await status({ json: true });
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as StatusJson;
    expect(json.lockProblem).toBeTruthy();
    expect(json.logins).toEqual([expect.objectContaining({ provider: "stripe", state: "locked", label: "locked (store key unavailable)", preview: "sk_…abcd" })]);

    const unlocked = await status({ json: true }, { AUTHCTL_PASSPHRASE: passphrase });
    expect(unlocked.code).toBe(0);
    expect((JSON.parse(unlocked.stdout) as StatusJson).logins[0]!.state).toBe("valid");
  });

  describe("--check probes each login at the roster's upstream", () => {
    let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
    let good: string;
    beforeAll(async () => {
      good = canary("gho_");
      upstream = await fakeUpstream((req, res) => {
        if (req.url === "/user" && req.headers.authorization === `Bearer ${good}`) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ login: "octocat", id: 1 }));
        } else if (req.url === "/v1/models" && req.headers["x-api-key"]) res.writeHead(500).end("down");
        else res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ message: "Bad credentials" }));
      });
    });
    afterAll(() => upstream.close());

    it("shows the account a valid token belongs to; a 401 is 'rejected' naming host and status; an unreachable or failing host is named", async () => {
      secrets.push(good);
      overrideProvider(home, "gh", (e) => {
        e.proxy.oauth.base_url = upstream.url;
        e.proxy.api_key.base_url = upstream.url;
      });
      overrideProvider(home, "anthropic", (e) => (e.proxy.api_key.base_url = upstream.url));
      const closed = await closedPort();
      overrideProvider(home, "openai", (e) => (e.probe.api_key.base_url = `http://127.0.0.1:${closed}`));
      {
        using store = CredentialStore.open({ home, env });
        store.put("default", "gh", "oauth", containerLogin("gh", good), { preview: "gho…" });
        store.put("ci", "gh", "api_key", { type: "api_key", key: secret("ghp_") }, { preview: "ghp…" });
        store.put("default", "anthropic", "api_key", { type: "api_key", key: secret("sk-ant-") }, { preview: "sk-…" });
        store.put("default", "openai", "api_key", { type: "api_key", key: secret("sk-") }, { preview: "sk-…" });
        store.put("default", "stripe", "api_key", { type: "api_key", key: secret("sk_test_") }, { preview: "sk_…" });
      }
      overrideProvider(home, "stripe", (e) => (e.probe = undefined));

      const r = await status({ json: true, check: true });
      expect(r.code).toBe(1);
      const rows = (JSON.parse(r.stdout) as StatusJson).logins;
      const check = Object.fromEntries(rows.map((l) => [`${l.credentialSet}:${l.provider}`, l.check]));
      const host = new URL(upstream.url).host;
      expect(check["default:gh"]).toEqual({ result: "ok", identity: "octocat", detail: `GET ${host}/user answered 200` });
      expect(check["ci:gh"]).toEqual({ result: "rejected", detail: `rejected: GET ${host}/user answered 401` });
      expect(check["default:anthropic"]).toEqual({ result: "failed", detail: `GET ${host}/v1/models answered 500` });
      expect(check["default:openai"]).toMatchObject({ result: "failed", detail: `could not reach 127.0.0.1:${closed}: ECONNREFUSED` });
      expect(check["default:stripe"]).toMatchObject({ result: "skipped" });
      // The anthropic probe sent the roster's version header and the key in x-api-key, nowhere else.
      const anthropicCall = upstream.arrivals.find((a) => a.url === "/v1/models")!;
      expect(anthropicCall.headers["anthropic-version"]).toBe("2023-06-01");
      expect(anthropicCall.headers.authorization).toBeUndefined();

      const table = await status({ check: true, set: "default" });
      expect(table.stdout).toMatch(/CHECK/);
      expect(table.stdout).toMatch(/default\s+gh\s+valid\s.*octocat/);
      expect(table.stdout).not.toContain("ci ");
    });
  });
});
