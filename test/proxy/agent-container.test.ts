import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { authImage } from "../helpers/auth-image.js";
import { authctl, canary } from "../helpers/env.js";
import { ENGINE, requireEngine, waitForForwarder } from "../helpers/engine.js";
import { type FakeHandler, fakeUpstream } from "../helpers/fake-upstream.js";
import { anthropicMessages, geminiGenerate, openaiResponses, REPLY_TEXT } from "../helpers/fake-vendors.js";
import { filesContaining } from "../helpers/leaks.js";
import { type RosterFile, useProxyServe } from "../helpers/proxyFixture.js";

/**
 * Issue 10.4: `authctl container-args` wires an agent container to the credential proxy. The REAL
 * claude (in the real auth image) runs with `--network none`: its only way out is the forwarder
 * → the mounted proxy socket → `authctl proxy serve` on the host → the fake upstream, which must
 * see the real canary while nothing inside the container (files, env, processes) holds it.
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
// The image build needs root (debootstrap); CI runs as root, so there a missing image is a failure.
const canRun = hasEngine && (isRoot || Boolean(process.env.AUTHCTL_AUTH_IMAGE) || process.env.CI === "true");
if (hasEngine && !canRun) console.warn("skipping the agent-container tests: building the auth image needs root (or set AUTHCTL_AUTH_IMAGE)");

const CLI_TIMEOUT_MS = 120_000;
/** Plain settings for the container: nothing non-essential leaves claude (there is no network anyway). */
const QUIET = ["CODEX_DISABLE_UPDATE_CHECK=1", "DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "NO_COLOR=1"];
const NAME_PREFIX = `authctl-agent-test-${process.pid}-`;

interface AgentJson {
  sessionId: string;
  runArgs: string[];
  command: string[];
  env: Record<string, string>;
  sessionDir: string;
  mode: string;
}

describe.skipIf(!canRun)("container-args: the real claude in a container through the proxy socket", () => {
  const secrets = {
    key: canary("sk-ant-"),
    access: canary("claude-access-"),
    refresh: canary("claude-refresh-"),
    codexKey: canary("sk-"),
    geminiKey: canary("AIza"),
    codexAccess: canary("codex-access-"),
    codexRefresh: canary("codex-refresh-"),
    ghToken: canary("gho_"),
  };
  const workspace = `ws-${canary().slice(-8)}`;
  let image = "";
  const started: string[] = [];
  beforeAll(async () => {
    // scripts/build-auth-image.sh, cached: returns at once when the image exists (CI's real-image suite builds the same tag).
    image = await authImage();
  }, 20 * 60_000);
  const vendor: FakeHandler = (req, res, body) => {
    const presented = String(req.headers["x-api-key"] ?? req.headers["x-goog-api-key"] ?? req.headers.authorization?.replace(/^Bearer /, "") ?? "");
    const real = [secrets.key, secrets.access, secrets.codexKey, secrets.geminiKey, secrets.codexAccess, secrets.ghToken];
    if (!real.includes(presented)) return void res.writeHead(401).end('{"error":{"message":"bad token"}}');
    if (anthropicMessages(req, res, body) || openaiResponses(req, res) || geminiGenerate(req, res)) return;
    if (req.url === "/backend-api/wham/accounts/check") {
      const accounts = [{ id: workspace, workspace_backend_origin: "https://chatgpt.com", account_routing_override: "NO_CONSTRAINT" }];
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ accounts }));
    }
    if (req.url === "/user") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ login: REPLY_TEXT, id: 1 }));
    res.writeHead(404, { "content-type": "application/json" }).end("{}");
  };
  /** Every proxy route of the agents goes to the fake vendor. */
  const toVendor = (entry: RosterFile, upstream: { url: string }) => {
    for (const route of Object.values(entry.proxy ?? {})) route.base_url = upstream.url;
  };
  const served = useProxyServe("authctl-agent-", {
    upstream: () => fakeUpstream(vendor),
    roster: { claude: toVendor, codex: toVendor, gemini: toVendor, gh: toVendor },
    seed: (store) => {
      store.put("foo", "claude", "api_key", { type: "api_key", key: secrets.key }, { preview: "sk-ant-…" });
      store.put("foo", "gemini", "api_key", { type: "api_key", key: secrets.geminiKey }, { preview: "AIza…" });
      store.put("foo", "codex", "api_key", { type: "api_key", key: secrets.codexKey }, { preview: "sk-…" });
      const later = new Date(Date.now() + 6 * 3_600_000);
      store.put("sub", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: secrets.access, refreshToken: secrets.refresh }, { preview: "…", expiresAt: later });
      const authJson = JSON.stringify({ auth_mode: "chatgpt", tokens: { access_token: secrets.codexAccess, refresh_token: secrets.codexRefresh, account_id: workspace } });
      const codexLogin = { type: "oauth", provider: "codex", files: { "auth.json": authJson }, accessToken: secrets.codexAccess, refreshToken: secrets.codexRefresh };
      store.put("sub", "codex", "oauth", codexLogin, { preview: "…", expiresAt: later });
      const hostsYml = `github.com:\n    oauth_token: ${secrets.ghToken}\n    user: dev\n`;
      store.put("foo", "gh", "oauth", { type: "oauth", provider: "gh", files: { "hosts.yml": hostsYml }, accessToken: secrets.ghToken, account: "dev" }, { preview: "gho_…" });
    },
    listen: () => {
      mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
      return ["--socket", socket];
    },
  });
  // One by one: an already removed `--rm` container makes a batched `rm` fail for the others too.
  served.onTeardown(() => Promise.all(started.map((name) => execa(ENGINE, ["rm", "-f", name], { reject: false }))));
  const { home } = served;
  const socket = join(home, "run", "proxy.sock");

  async function containerArgs(args: string[], provider = "claude"): Promise<AgentJson> {
    const r = await authctl(home, ["container-args", provider, ...args, "--socket", socket, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    return JSON.parse(String(r.stdout)) as AgentJson;
  }

  /** A long-lived agent container (forwarder wrapping `sleep`), so claude runs in it and its insides can be searched. */
  async function startAgent(agent: AgentJson): Promise<string> {
    const name = `${NAME_PREFIX}${started.length}`;
    started.push(name);
    const quiet = QUIET.flatMap((e) => ["-e", e]);
    const r = await execa(ENGINE, ["run", "-d", "--rm", "--network", "none", ...quiet, ...agent.runArgs, "--name", name, image, ...agent.command, "sleep", "300"], { reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    waitForForwarder(name);
    return name;
  }

  const inside = (name: string, script: string) => execa(ENGINE, ["exec", name, "sh", "-c", script], { reject: false, timeout: CLI_TIMEOUT_MS });

  /**
   * Files the agent can write or was given, every process's argv and environment, and the container's
   * config. Searched on the host: a search command inside would carry the needle in its own argv.
   */
  async function assertNoRealSecretInside(name: string, phantom: string, phantomFile?: string): Promise<void> {
    const files = Buffer.from((await execa(ENGINE, ["exec", name, "tar", "-cf", "-", "/home", "/tmp", "/run", "/opt", "/etc", "/root", "/var/tmp"], { encoding: "buffer", reject: false, maxBuffer: 256 * 1024 * 1024 })).stdout);
    const processes = String((await inside(name, "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline | tr '\\0' '\\n'")).stdout);
    const inspect = String((await execa(ENGINE, ["inspect", name])).stdout);
    // Positive controls: the same searches find the phantom where it must be, so a blind search cannot pass.
    expect(processes).toContain(phantomFile ? "AUTHCTL_PROXY_SOCKET=" : phantom);
    if (phantomFile) expect(files.includes(phantom)).toBe(true);
    // The proxy's CA key stays on the host (only its certificate may be mounted).
    expect(files.includes("PRIVATE KEY")).toBe(false);
    for (const secret of Object.values(secrets)) {
      expect(files.includes(secret), `${secret.slice(0, 12)}… in the container's files`).toBe(false);
      expect(processes, "a process's argv or env").not.toContain(secret);
      expect(inspect).not.toContain(secret);
    }
  }

  /** Runs `claude -p hi` in the agent: it must print the fake's reply; returns the /v1/messages requests the upstream saw meanwhile (at least one). */
  const claudeAnswersThroughProxy = async (name: string) => {
    const before = served.upstream.arrivals.length;
    const run = await inside(name, "cd /home/dev && claude -p hi");
    expect(`${String(run.stdout)}\n${String(run.stderr)}`).toContain(REPLY_TEXT);
    const messages = served.upstream.arrivals.slice(before).filter((a) => a.url.startsWith("/v1/messages"));
    expect(messages.length).toBeGreaterThan(0);
    return messages;
  };

  it("API-key mode: claude -p in the container gets its answer; the upstream sees the real key, the container only a phantom", async () => {
    const agent = await containerArgs(["--project", "foo"]);
    expect(agent.sessionId).toMatch(/^agent-foo-/);
    expect(agent.mode).toBe("api_key");
    expect(agent.env.ANTHROPIC_BASE_URL).toBe("http://127.0.0.1:8787");
    expect(agent.env.ANTHROPIC_API_KEY).toMatch(/^authctl-phantom-/);
    expect(JSON.stringify(agent)).not.toContain(secrets.key);
    const name = await startAgent(agent);
    const messages = await claudeAnswersThroughProxy(name);
    for (const a of messages) expect(a.headers["x-api-key"]).toBe(secrets.key);
    await assertNoRealSecretInside(name, agent.env.ANTHROPIC_API_KEY!);

    // The container is still up: revoking its session cuts it off at the proxy.
    expect((await authctl(home, ["proxy", "revoke", agent.sessionId])).exitCode).toBe(0);
    const afterRevoke = served.upstream.arrivals.length;
    const probe = `fetch("http://127.0.0.1:8787/v1/messages", { method: "POST", headers: { "x-api-key": process.env.ANTHROPIC_API_KEY }, body: "{}" }).then((r) => console.log(r.status))`;
    const status = await execa(ENGINE, ["exec", name, "node", "-e", probe], { reject: false, timeout: CLI_TIMEOUT_MS });
    expect(String(status.stdout).trim(), String(status.stderr)).toBe("401");
    expect(served.upstream.arrivals.length).toBe(afterRevoke);
  });

  it("subscription mode: a phantom .credentials.json (expiresAt null) in the mounted config dir; the upstream sees the real OAuth token", async () => {
    const agent = await containerArgs(["--project", "foo", "--set", "sub", "--session", "box-sub-1"]);
    expect(agent.sessionId).toBe("box-sub-1");
    expect(agent.mode).toBe("oauth");
    const credentials = JSON.parse(readFileSync(join(agent.sessionDir, "config", ".credentials.json"), "utf8"));
    expect(credentials.claudeAiOauth.expiresAt).toBeNull();
    const phantom = credentials.claudeAiOauth.accessToken as string;
    expect(phantom).toMatch(/^authctl-phantom-/);
    expect(statSync(join(agent.sessionDir, "config", ".credentials.json")).mode & 0o777).toBe(0o600);
    const name = await startAgent(agent);
    const messages = await claudeAnswersThroughProxy(name);
    for (const a of messages) expect(a.headers.authorization).toBe(`Bearer ${secrets.access}`);
    await assertNoRealSecretInside(name, phantom, "/home/dev/.claude/.credentials.json");
  });

  it("Codex, API-key mode: `codex exec` in the container reaches the upstream through the forwarder (WebSocket tried first, then POST)", async () => {
    const agent = await containerArgs(["--project", "foo"], "codex");
    expect(agent.env.CODEX_API_KEY).toMatch(/^authctl-phantom-/);
    const name = await startAgent(agent);
    const before = served.upstream.arrivals.length;
    const run = await inside(name, "cd /home/dev && codex exec --skip-git-repo-check hi");
    expect(`${String(run.stdout)}\n${String(run.stderr)}`).toContain(REPLY_TEXT);
    const arrived = served.upstream.arrivals.slice(before).filter((a) => a.url.startsWith("/v1/responses"));
    expect(arrived[0]!.upgrade).toBe(true);
    expect(arrived.some((a) => !a.upgrade && a.method === "POST")).toBe(true);
    for (const a of arrived) expect(a.headers.authorization).toBe(`Bearer ${secrets.codexKey}`);
    await assertNoRealSecretInside(name, agent.env.CODEX_API_KEY!);
  });

  it("Codex, ChatGPT mode: `codex exec` over TLS through the forwarder, trusting the mounted proxy CA; the upstream sees the real token and workspace id", async () => {
    const agent = await containerArgs(["--project", "foo", "--set", "sub"], "codex");
    expect(agent.mode).toBe("oauth");
    expect(agent.env.CODEX_CA_CERTIFICATE).toBe("/opt/authctl/proxy-ca.pem");
    const phantom = JSON.parse(readFileSync(join(agent.sessionDir, "config", "auth.json"), "utf8")).tokens.access_token as string;
    expect(phantom).toMatch(/^authctl-phantom-/);
    const name = await startAgent(agent);
    const before = served.upstream.arrivals.length;
    const run = await inside(name, "cd /home/dev && codex exec --skip-git-repo-check hi");
    expect(`${String(run.stdout)}\n${String(run.stderr)}`).toContain(REPLY_TEXT);
    const arrived = served.upstream.arrivals.slice(before);
    const posts = arrived.filter((a) => a.method === "POST" && a.url.startsWith("/backend-api/codex/responses"));
    expect(posts.length).toBeGreaterThan(0);
    for (const a of [...posts, ...arrived.filter((a) => a.url === "/backend-api/wham/accounts/check")]) {
      expect(a.headers.authorization).toBe(`Bearer ${secrets.codexAccess}`);
      expect(a.headers["chatgpt-account-id"]).toBe(workspace);
    }
    await assertNoRealSecretInside(name, phantom, "/home/dev/.codex/auth.json");
  });

  it("gh: `gh api /user` goes through the mounted socket (http_unix_socket) with a phantom GH_TOKEN; the upstream sees the real token", async () => {
    const agent = await containerArgs(["--project", "foo"], "gh");
    expect(agent.env.GH_TOKEN).toMatch(/^authctl-phantom-/);
    expect(readFileSync(join(agent.sessionDir, "config", "config.yml"), "utf8")).toContain("http_unix_socket: /run/authctl/proxy.sock");
    const name = await startAgent(agent);
    const before = served.upstream.arrivals.length;
    const run = await inside(name, "cd /home/dev && gh api /user");
    expect(`${String(run.stdout)}\n${String(run.stderr)}`).toContain(REPLY_TEXT);
    const arrived = served.upstream.arrivals.slice(before).filter((a) => a.url === "/user");
    expect(arrived.length).toBe(1);
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${secrets.ghToken}`);
    await assertNoRealSecretInside(name, agent.env.GH_TOKEN!);
  });

  it("Gemini, API-key mode: `gemini -p`'s requests reach the upstream through the forwarder with the real key in x-goog-api-key", async () => {
    const agent = await containerArgs(["--project", "foo"], "gemini");
    expect(agent.env.GEMINI_API_KEY).toMatch(/^authctl-phantom-/);
    const name = await startAgent(agent);
    const before = served.upstream.arrivals.length;
    // Only the wiring is checked: gemini-cli 0.61 wants more than this fake answers (it retries its
    // JSON calls), so it is stopped once its first request has arrived instead of awaiting a reply.
    // Waiting for that request, not a fixed 15 s, keeps a slow start on a loaded machine from failing.
    const geminiRequests = () => served.upstream.arrivals.slice(before).filter((a) => a.url.startsWith("/v1beta/models/"));
    const running = inside(name, "cd /home/dev && echo $$ > /tmp/gemini.pid && exec timeout 90 gemini --skip-trust -p hi");
    await expect.poll(() => geminiRequests().length, { timeout: 90_000, interval: 250 }).toBeGreaterThan(0);
    await inside(name, "kill $(cat /tmp/gemini.pid)"); // timeout passes the TERM on to gemini
    await running;
    const arrived = geminiRequests();
    for (const a of arrived) expect(a.headers["x-goog-api-key"]).toBe(secrets.geminiKey);
    await assertNoRealSecretInside(name, agent.env.GEMINI_API_KEY!);
  });

  it("the forwarder as entrypoint wrapper runs the command and returns its exit status; revoking the session ends access and removes its files", async () => {
    const agent = await containerArgs(["--project", "foo", "--session", "box-wrap-1"]);
    const name = `${NAME_PREFIX}wrap`;
    started.push(name);
    const quiet = QUIET.flatMap((e) => ["-e", e]);
    const run = (command: string[]) =>
      execa(ENGINE, ["run", "--rm", "--network", "none", ...quiet, ...agent.runArgs, "--name", name, image, ...agent.command, ...command], {
        reject: false,
        timeout: CLI_TIMEOUT_MS,
        stdin: "ignore",
      });
    const ok = await run(["claude", "-p", "hi"]);
    expect(ok.exitCode, String(ok.stderr)).toBe(0);
    expect(String(ok.stdout)).toContain(REPLY_TEXT);
    expect((await run(["sh", "-c", "exit 7"])).exitCode).toBe(7);

    const revoke = await authctl(home, ["proxy", "revoke", "box-wrap-1"]);
    expect(revoke.exitCode).toBe(0);
    expect(String(revoke.stdout)).toContain("revoked 2 phantom token(s)");
    expect(existsSync(agent.sessionDir)).toBe(false);
  });

  it("text mode: shell-ready run flags on stdout (the README's `eval`), the session id to revoke on stderr", async () => {
    const r = await authctl(home, ["container-args", "claude", "--project", "foo", "--socket", socket, "--session", "box-text-1"]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/--env-file \S+\/agent-sessions\/box-text-1\/env -v /);
    expect(String(r.stderr)).toContain("authctl proxy revoke box-text-1");
    expect(`${String(r.stdout)}${String(r.stderr)}`).not.toContain(secrets.key);
    expect(filesContaining(join(home, "agent-sessions"), secrets.key)).toEqual([]);
    const name = `${NAME_PREFIX}text`;
    started.push(name);
    const quiet = QUIET.map((e) => `-e ${e}`).join(" ");
    const script = `args=$(cat); eval "${ENGINE} run --rm --network none ${quiet} $args --name ${name} ${image} node /opt/authctl/forward.mjs claude -p hi"`;
    const run = await execa("bash", ["-c", script], { input: String(r.stdout), reject: false, timeout: CLI_TIMEOUT_MS });
    expect(run.exitCode, String(run.stderr)).toBe(0);
    expect(String(run.stdout)).toContain(REPLY_TEXT);
  });

  it("bad input fails clearly and leaves nothing behind: no socket, nothing stored, a reused session id", async () => {
    const noSocket = await authctl(home, ["container-args", "claude", "--project", "foo", "--socket", join(home, "nope.sock")]);
    expect(noSocket.exitCode).not.toBe(0);
    expect(String(noSocket.stderr)).toContain("authctl proxy serve --socket");
    const nothing = await authctl(home, ["container-args", "claude", "--project", "empty", "--socket", socket, "--session", "box-empty"]);
    expect(nothing.exitCode).not.toBe(0);
    expect(String(nothing.stderr)).toContain("no credentials for empty:claude; run: authctl auth claude --project empty");
    expect(existsSync(join(home, "agent-sessions", "box-empty"))).toBe(false);
    const reused = await authctl(home, ["container-args", "claude", "--project", "foo", "--socket", socket, "--session", "box-text-1"]);
    expect(reused.exitCode).not.toBe(0);
    expect(String(reused.stderr)).toContain("box-text-1 already exists");
  });
});
