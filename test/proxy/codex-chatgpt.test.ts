import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { authctl, canary, REPO } from "../helpers/env.js";
import { type FakeHandler, fakeUpstream } from "../helpers/fake-upstream.js";
import { openaiResponses, REPLY_TEXT } from "../helpers/fake-vendors.js";
import { filesContaining, startPsSampler } from "../helpers/leaks.js";
import { OFFLINE_CLIENT_ENV } from "../helpers/proxy-serve.js";
import { useProxyServe } from "../helpers/proxyFixture.js";

const CODEX = join(REPO, "node_modules/.bin/codex");
const CLI_TIMEOUT_MS = 90_000;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("Codex in ChatGPT mode through the credential proxy (TLS, the real codex CLI)", () => {
  const clientRoot = mkdtempSync(join(tmpdir(), "authctl-codex-chatgpt-client-"));
  const workspace = `ws-${canary().slice(-8)}`;
  const secrets = { access: canary("codex-access-"), refresh: canary("codex-refresh-"), idToken: canary("codex-id-") };
  const vendor: FakeHandler = (req, res) => {
    if (req.headers.authorization !== `Bearer ${secrets.access}`) return void res.writeHead(401, { "content-type": "application/json" }).end("{}");
    if (req.url === "/backend-api/wham/accounts/check") {
      // What chatgpt.com answers: the workspace's own origin, gzipped even when asked for identity.
      const body = { accounts: [{ id: workspace, workspace_backend_origin: "https://chatgpt.com", account_routing_override: "NO_CONSTRAINT" }] };
      return void res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end(gzipSync(JSON.stringify(body)));
    }
    if (openaiResponses(req, res)) return;
    res.writeHead(404, { "content-type": "application/json" }).end("{}");
  };
  const served = useProxyServe("authctl-codex-chatgpt-", {
    upstream: () => fakeUpstream(vendor),
    roster: {
      codex: (entry, upstream) => {
        entry.proxy.oauth!.base_url = upstream.url;
        entry.proxy.oauth!.refresh!.token_url = `${upstream.url}/codex/oauth/token`;
      },
    },
    seed: (store) => {
      const idToken = `${b64({ alg: "RS256" })}.${b64({ email: "dev@example.com", "https://api.openai.com/auth": { chatgpt_account_id: workspace } })}.${secrets.idToken}`;
      const authJson = JSON.stringify({ auth_mode: "chatgpt", tokens: { id_token: idToken, access_token: secrets.access, refresh_token: secrets.refresh, account_id: workspace } });
      const payload = { type: "oauth", provider: "codex", files: { "auth.json": authJson }, accessToken: secrets.access, refreshToken: secrets.refresh, account: "dev@example.com" };
      store.put("sub", "codex", "oauth", payload, { preview: "…", expiresAt: new Date(Date.now() + 3_600_000) });
    },
  });
  served.onTeardown(() => rmSync(clientRoot, { recursive: true, force: true }));
  const { home } = served;

  it("codex exec gets its answer over TLS; upstream sees the real token and workspace id, the client only phantoms", async () => {
    const clientHome = mkdtempSync(join(clientRoot, "codex-"));
    const codexHome = join(clientHome, ".codex");
    const r = await authctl(home, ["proxy", "client", "codex", "--set", "sub", "--session", "codex-chatgpt-1", "--base-url", served.info.url!, "--config-dir", codexHome, "--json"]);
    expect(r.stderr).toBe("");
    const config = JSON.parse(String(r.stdout)) as { env: Record<string, string>; files: Record<string, string>; caFile: string };
    for (const [path, text] of Object.entries(config.files)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text, { mode: 0o600 });
    }
    const before = served.upstream.arrivals.length;
    const env = { PATH: process.env.PATH!, HOME: clientHome, CODEX_HOME: codexHome, ...OFFLINE_CLIENT_ENV, ...config.env };
    const ps = startPsSampler();
    const run = await execa(CODEX, ["exec", "--skip-git-repo-check", "hi"], { env, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS, cwd: clientHome, stdin: "ignore" });
    const { lines } = await ps.stop();
    const output = `${String(run.stdout)}\n${String(run.stderr)}`;
    expect(output).not.toContain("workspace backend must use an HTTPS origin");
    expect(output).toContain(REPLY_TEXT);
    expect(config.env.CODEX_CA_CERTIFICATE).toBe(served.info.caFile);
    expect(config.files[join(codexHome, "config.toml")]).toContain(`chatgpt_base_url = "${served.info.tlsUrl}/backend-api/"`);

    const arrived = served.upstream.arrivals.slice(before);
    const check = arrived.filter((a) => a.url === "/backend-api/wham/accounts/check");
    const posts = arrived.filter((a) => a.method === "POST" && a.url.startsWith("/backend-api/codex/responses"));
    expect(check.length).toBeGreaterThan(0);
    expect(posts.length).toBeGreaterThan(0);
    for (const a of [...check, ...posts]) {
      expect(a.headers.authorization).toBe(`Bearer ${secrets.access}`);
      expect(a.headers["chatgpt-account-id"]).toBe(workspace);
    }
    expect(JSON.stringify(served.upstream.arrivals)).not.toContain("authctl-phantom-");

    for (const secret of Object.values(secrets)) {
      expect(output).not.toContain(secret);
      expect(filesContaining(clientHome, secret)).toEqual([]);
      expect(JSON.stringify(config)).not.toContain(secret);
      expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    }
  });
});
