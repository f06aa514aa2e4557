import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { authctl, canary, REPO } from "../helpers/env.js";
import { type FakeHandler, fakeUpstream } from "../helpers/fake-upstream.js";
import { anthropicMessages, openaiResponses, REPLY_TEXT } from "../helpers/fake-vendors.js";
import { filesContaining } from "../helpers/leaks.js";
import { OFFLINE_CLIENT_ENV } from "../helpers/proxy-serve.js";
import { type RosterFile, useProxyServe } from "../helpers/proxyFixture.js";

const CLAUDE = join(REPO, "node_modules/.bin/claude");
const CODEX = join(REPO, "node_modules/.bin/codex");
/** Every vendor CLI run is bounded: a hang fails the test instead of the suite. */
const CLI_TIMEOUT_MS = 90_000;

describe("credential proxy with the real vendor CLIs (claude, codex) as clients", () => {
  const clientRoot = mkdtempSync(join(tmpdir(), "authctl-proxy-client-"));
  const secrets = {
    claudeKey: canary("sk-ant-"),
    claudeAccess: canary("claude-access-"),
    claudeRefresh: canary("claude-refresh-"),
    claudeRotated: canary("claude-rotated-"),
    codexKey: canary("sk-"),
  };
  /** OAuth access tokens the fake accepts; the stored ones are not among them until refreshed. */
  const accepted = new Set<string>([secrets.claudeKey, secrets.codexKey]);
  const vendor: FakeHandler = (req, res, body) => {
    if (req.url === "/claude/oauth/token") {
      const sent = JSON.parse(body.toString()) as { refresh_token: string };
      if (sent.refresh_token !== secrets.claudeRefresh) return void res.writeHead(401).end(JSON.stringify({ error: "refresh_token_reused" }));
      const rotated = secrets.claudeRotated;
      accepted.add(rotated);
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ access_token: rotated, refresh_token: canary("next-refresh-"), expires_in: 3600 }));
    }
    const presented = String(req.headers["x-api-key"] ?? req.headers.authorization?.replace(/^Bearer /, "") ?? "");
    if (!accepted.has(presented)) return void res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"message":"bad token"}}');
    if (anthropicMessages(req, res, body) || openaiResponses(req, res)) return;
    res.writeHead(404, { "content-type": "application/json" }).end("{}");
  };
  /** The API and the refresh of claude's and codex's routes go to the fake vendor. */
  const toVendor = (entry: RosterFile, upstream: { url: string }) => {
    entry.proxy.api_key!.base_url = upstream.url;
    entry.proxy.oauth!.base_url = upstream.url;
    entry.proxy.oauth!.refresh!.token_url = `${upstream.url}/${entry.name}/oauth/token`;
  };
  const served = useProxyServe("authctl-proxy-cli-", {
    upstream: () => fakeUpstream(vendor),
    roster: { claude: toVendor, codex: toVendor },
    seed: (store) => {
      const soon = new Date(Date.now() + 3_600_000);
      store.put("keys", "claude", "api_key", { type: "api_key", key: secrets.claudeKey }, { preview: "sk-ant-…" });
      store.put("keys", "codex", "api_key", { type: "api_key", key: secrets.codexKey }, { preview: "sk-…" });
      store.put("sub", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: secrets.claudeAccess, refreshToken: secrets.claudeRefresh }, { preview: "…", expiresAt: soon });
    },
  });
  served.onTeardown(() => rmSync(clientRoot, { recursive: true, force: true }));
  const { home } = served;

  /** A fresh HOME for one client run, with the files `authctl proxy client` says it needs. */
  async function clientFor(provider: string, set: string, session: string, configDir: string) {
    const clientHome = mkdtempSync(join(clientRoot, `${provider}-`));
    const dir = join(clientHome, configDir);
    const r = await authctl(home, ["proxy", "client", provider, "--set", set, "--session", session, "--base-url", served.info.url!, "--config-dir", dir, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const config = JSON.parse(String(r.stdout)) as { env: Record<string, string>; files: Record<string, string> };
    for (const [path, text] of Object.entries(config.files)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text, { mode: 0o600 });
    }
    return { clientHome, env: { PATH: process.env.PATH!, HOME: clientHome, ...OFFLINE_CLIENT_ENV, ...config.env }, config };
  }

  function assertNoRealSecretOnClientSide(clientHome: string, output: string): void {
    for (const secret of Object.values(secrets)) {
      expect(output).not.toContain(secret);
      expect(filesContaining(clientHome, secret)).toEqual([]);
    }
  }

  const arrivalsSince = (n: number) => served.upstream.arrivals.slice(n);

  it("Claude Code, API-key mode: `claude -p` gets its answer; the upstream sees the real key, the CLI only a phantom", async () => {
    const before = served.upstream.arrivals.length;
    const { clientHome, env, config } = await clientFor("claude", "keys", "claude-key-1", ".claude");
    expect(config.env.ANTHROPIC_API_KEY).toMatch(/^authctl-phantom-/);
    const run = await execa(CLAUDE, ["-p", "hi"], { env, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS, cwd: clientHome, stdin: "ignore" });
    const output = `${String(run.stdout)}\n${String(run.stderr)}`;
    expect(output).toContain(REPLY_TEXT);
    const messages = arrivalsSince(before).filter((a) => a.url.startsWith("/v1/messages"));
    expect(messages.length).toBeGreaterThan(0);
    for (const a of messages) expect(a.headers["x-api-key"]).toBe(secrets.claudeKey);
    expect(JSON.stringify(served.upstream.arrivals)).not.toContain(config.env.ANTHROPIC_API_KEY);
    assertNoRealSecretOnClientSide(clientHome, output);
  });

  it("Claude Code, subscription mode: a phantom credentials file; an upstream 401 makes the proxy refresh once and retry", async () => {
    const before = served.upstream.arrivals.length;
    const { clientHome, env } = await clientFor("claude", "sub", "claude-sub-1", ".claude");
    const run = await execa(CLAUDE, ["-p", "hi"], { env, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS, cwd: clientHome, stdin: "ignore" });
    const output = `${String(run.stdout)}\n${String(run.stderr)}`;
    expect(output).toContain(REPLY_TEXT);
    const arrived = arrivalsSince(before);
    expect(arrived.filter((a) => a.url === "/claude/oauth/token")).toHaveLength(1);
    const messages = arrived.filter((a) => a.url.startsWith("/v1/messages"));
    expect(messages[0]!.headers.authorization).toBe(`Bearer ${secrets.claudeAccess}`);
    expect(messages.at(-1)!.headers.authorization).toBe(`Bearer ${secrets.claudeRotated}`);
    expect(String(messages.at(-1)!.headers["anthropic-beta"])).toContain("oauth");
    const store = CredentialStore.open({ home, env: baseEnv() });
    expect(store.get<{ accessToken: string }>("sub", "claude")!.payload.accessToken).toBe(secrets.claudeRotated);
    store.close();
    assertNoRealSecretOnClientSide(clientHome, output);
  });

  it("Codex, API-key mode: the WebSocket comes first, then the POST; both carry the real key upstream", async () => {
    const before = served.upstream.arrivals.length;
    const { clientHome, env, config } = await clientFor("codex", "keys", "codex-key-1", ".codex");
    const run = await execa(CODEX, ["exec", "--skip-git-repo-check", "hi"], {
      env: { ...env, CODEX_HOME: join(clientHome, ".codex") },
      extendEnv: false,
      reject: false,
      timeout: CLI_TIMEOUT_MS,
      cwd: clientHome,
      stdin: "ignore",
    });
    const output = `${String(run.stdout)}\n${String(run.stderr)}`;
    expect(output).toContain(REPLY_TEXT);
    const arrived = arrivalsSince(before).filter((a) => a.url.startsWith("/v1/responses"));
    expect(arrived[0]!.upgrade).toBe(true);
    expect(arrived.some((a) => !a.upgrade && a.method === "POST")).toBe(true);
    for (const a of arrived) expect(a.headers.authorization).toBe(`Bearer ${secrets.codexKey}`);
    expect(JSON.stringify(served.upstream.arrivals)).not.toContain(config.env.CODEX_API_KEY);
    assertNoRealSecretOnClientSide(clientHome, output);
  });

  it("`authctl proxy revoke` ends a session: its phantom gets 401 and nothing is forwarded", async () => {
    const { config } = await clientFor("claude", "keys", "claude-key-revoked", ".claude");
    const phantom = config.env.ANTHROPIC_API_KEY!;
    const send = () => fetch(`${served.info.url}/v1/messages`, { method: "POST", headers: { "x-api-key": phantom }, body: "{}" });
    expect((await send()).status).toBe(200);
    const r = await authctl(home, ["proxy", "revoke", "claude-key-revoked"]);
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toContain("revoked 2 phantom token(s)");
    const before = served.upstream.arrivals.length;
    expect((await send()).status).toBe(401);
    expect(served.upstream.arrivals.length).toBe(before);
  });

  it("the daemon's audit log (0600) records each request without tokens or bodies", () => {
    const log = join(home, "audit.jsonl");
    const text = readFileSync(log, "utf8");
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(text).toMatch(/"op":"proxy","target":"sub:claude"/);
    expect(text).not.toContain("authctl-phantom-");
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
  });
});
