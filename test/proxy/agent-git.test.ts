import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { ENGINE, removeContainers, requireEngine } from "../helpers/engine.js";
import { authImage } from "../helpers/auth-image.js";
import { serveGhLogin } from "../helpers/gh-agent.js";
import { startAgentContainer } from "../helpers/proxyFixture.js";
import { startGitServer, type GitServer } from "../helpers-git/git-server.js";
import { gitRequest } from "../../src/proxy/gitRoutes.js";
import { CompiledPolicy } from "../../src/proxy/policy.js";

/**
 * Issue 22 item 3: the REAL git in the auth image (no network) clones, commits and pushes
 * https://github.com/o/r.git with a phantom only. container-args' GIT_CONFIG_* variables send it
 * to the proxy (through the mounted socket of the real proxy), which forwards git's smart-HTTP
 * routes to the roster's git host (here git's own http-backend on the host, taking only the
 * token as Basic auth) and applies the session's policy to them.
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
const canRun = hasEngine && (isRoot || Boolean(process.env.AUTHCTL_AUTH_IMAGE) || process.env.CI === "true");
if (hasEngine && !canRun) console.warn("skipping the agent git tests: building the auth image needs root (or set AUTHCTL_AUTH_IMAGE)");

const TIMEOUT_MS = 60_000;
const NAME = `authctl-agent-git-test-${process.pid}`;
const GIT_ID = ["-c", "user.name=Agent", "-c", "user.email=agent@example.invalid"];

describe.skipIf(!canRun)("agent container: git over HTTPS through the proxy with a phantom", () => {
  const { home, cleanup } = tempHome("authctl-agent-git-");
  const root = dirname(home);
  const repos = join(root, "srv");
  const socket = join(home, "run", "proxy.sock");
  const ghToken = canary("gho_");
  const printed: string[] = [];
  let server: GitServer | undefined;
  let stopProxy: (() => Promise<void>) | undefined;
  let agentEnv: Record<string, string> = {};

  beforeAll(async () => {
    const image = await authImage();
    // The "github.com" repository o/r, one commit on main, behind Basic auth taking only the token.
    const seed = join(root, "seed");
    mkdirSync(repos, { recursive: true });
    const hostGit = (args: string[], cwd = root) => execFileSync("git", [...GIT_ID, ...args], { cwd, stdio: "pipe", env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: "1" } });
    hostGit(["init", "-q", "-b", "main", seed]);
    writeFileSync(join(seed, "README"), "seed\n");
    hostGit(["add", "README"], seed);
    hostGit(["commit", "-q", "-m", "seed"], seed);
    hostGit(["clone", "-q", "--bare", seed, join(repos, "o", "r.git")]);
    hostGit(["config", "http.receivepack", "true"], join(repos, "o", "r.git"));
    server = await startGitServer(repos, [ghToken]);

    const started = await serveGhLogin(home, ghToken, socket, (entry) => {
      entry.proxy.git!.base_url = `http://127.0.0.1:${server!.port}`;
    });
    stopProxy = started.stop;

    const container = await startAgentContainer(home, { provider: "gh", socket, name: NAME, image });
    printed.push(...container.printed);
    agentEnv = container.agent.env;
  }, 20 * 60_000);

  afterAll(async () => {
    removeContainers(NAME);
    await stopProxy?.();
    await server?.close();
    cleanup();
    expect(printed.join("\n")).not.toContain(ghToken);
  }, 120_000);

  /** A shell command in the container (never a prompt); its output is checked for the token. */
  async function inContainer(script: string, env: Record<string, string> = {}) {
    const flags = Object.entries({ GIT_TERMINAL_PROMPT: "0", ...env }).flatMap(([name, value]) => ["-e", `${name}=${value}`]);
    const r = await execa(ENGINE, ["exec", ...flags, "-w", "/tmp", NAME, "sh", "-c", script], { reject: false, timeout: TIMEOUT_MS });
    const text = `${String(r.stdout)}\n${String(r.stderr)}`;
    printed.push(text);
    expect(text).not.toContain(ghToken);
    return { exitCode: r.exitCode, text };
  }

  const hostLog = () => execFileSync("git", ["--git-dir", join(repos, "o", "r.git"), "log", "--format=%s", "main"], { encoding: "utf8" }).trim().split("\n");

  it("the container's git clones, commits and pushes https://github.com/o/r.git; the push lands on the host repository", async () => {
    const git = `git ${GIT_ID.join(" ")}`;
    const r = await inContainer(`set -e; rm -rf r; git clone -q https://github.com/o/r.git r; cd r; echo agent > AGENT; git add AGENT; ${git} commit -q -m 'from the agent'; git push -q origin main; git log --format=%s -2`);
    expect(r.exitCode, r.text).toBe(0);
    expect(r.text).toContain("from the agent");
    expect(hostLog()).toEqual(["from the agent", "seed"]);
    // Every request the git server saw carried the real token, put there by the proxy.
    expect(server!.logins.length).toBeGreaterThan(0);
    expect(server!.logins.every((login) => login.accepted && login.username === "x-access-token")).toBe(true);
  });

  it("the token is nowhere in the container: not in its env, git config, nor any file it can read", async () => {
    expect(Object.values(agentEnv).join("\n")).not.toContain(ghToken);
    expect(agentEnv.GIT_CONFIG_VALUE_1).toMatch(/^Authorization: Bearer authctl-phantom-/);
    const env = await inContainer("env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'");
    expect(env.text).toContain("GIT_CONFIG_KEY_0=url.http://127.0.0.1:8787/.insteadOf");
    const config = await inContainer("cd r && git config --list --show-origin");
    expect(config.text).toContain("url.http://127.0.0.1:8787/.insteadof");
    const token = ghToken;
    const grep = await inContainer(`grep -rlsF '${token.slice(0, 6)}''${token.slice(6)}' /home /tmp /etc /run /opt /root /var 2>/dev/null; echo searched`);
    expect(grep.text.trim()).toBe("searched");
  });

  it("the session policy applies: a --methods GET session clones, and its push is refused with the rule named", async () => {
    const r = await authctl(home, ["proxy", "client", "gh", "--set", "foo", "--session", "git-read-only", "--methods", "GET", "--base-url", "http://127.0.0.1:8787", "--socket", "/run/authctl/proxy.sock", "--json"]);
    printed.push(String(r.stdout), String(r.stderr));
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const env = (JSON.parse(String(r.stdout)) as { env: Record<string, string> }).env;
    const gitEnv = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith("GIT_CONFIG_")));
    const before = hostLog();
    const push = await inContainer(
      `set -e; rm -rf ro; git clone -q https://github.com/o/r.git ro; cd ro; echo x > X; git add X; git ${GIT_ID.join(" ")} commit -q -m 'refused'; git push -q origin main`,
      gitEnv,
    );
    expect(push.exitCode).not.toBe(0);
    expect(push.text).toContain("remote: authctl proxy: POST of this path is refused for gh by session.methods: this session may use only GET [rule session.methods]");
    expect(hostLog()).toEqual(before);
  });
});

describe("git's smart-HTTP requests as the session policy sees them", () => {
  const seen = (method: string, url: string) => gitRequest(method, url)!;

  it("a fetch is GET, a push POST …/git-receive-pack from its discovery on; session rules written that way apply", () => {
    const repoOnly = new CompiledPolicy("gh", "proxy.git", {}, { allow: ["GET,POST /o/r.git/*"] });
    const noPush = new CompiledPolicy("gh", "proxy.git", {}, { deny: ["POST /*/*.git/git-receive-pack"] });
    const fetch = seen("GET", "/o/r/info/refs?service=git-upload-pack");
    const pushDiscovery = seen("GET", "/o/r.git/info/refs?service=git-receive-pack");
    expect(fetch).toEqual({ method: "GET", path: "/o/r.git/git-upload-pack" });
    expect(seen("POST", "/o/r.git/git-upload-pack")).toEqual(fetch);
    expect(pushDiscovery).toEqual({ method: "POST", path: "/o/r.git/git-receive-pack" });
    expect(repoOnly.check(fetch.method, fetch.path)).toBeUndefined();
    expect(repoOnly.check(pushDiscovery.method, pushDiscovery.path)).toBeUndefined();
    const elsewhere = seen("POST", "/o/x.git/git-receive-pack");
    expect(repoOnly.check(elsewhere.method, elsewhere.path)?.rule).toBe("session.allow");
    expect(noPush.check(fetch.method, fetch.path)).toBeUndefined();
    expect(noPush.check(pushDiscovery.method, pushDiscovery.path)?.rule).toBe("session.deny");
  });

  it("only smart HTTP with its own method is a git request: dumb HTTP and a discovery POST go to the API route", () => {
    expect(gitRequest("POST", "/o/r.git/info/refs?service=git-upload-pack")).toBeUndefined();
    expect(gitRequest("GET", "/o/r.git/git-receive-pack")).toBeUndefined();
    expect(gitRequest("GET", "/o/r.git/HEAD")).toBeUndefined();
    expect(gitRequest("GET", "/o/r.git/info/refs")).toBeUndefined();
    expect(gitRequest("GET", "/repos/o/r")).toBeUndefined();
  });
});
