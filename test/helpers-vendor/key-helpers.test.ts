import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, REPO, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { anthropicMessages, openaiResponses, REPLY_TEXT } from "../helpers/fake-vendors.js";
import { filesContaining } from "../helpers/leaks.js";
import { OFFLINE_CLIENT_ENV } from "../helpers/proxy-serve.js";

/**
 * The vendor CLIs installed in the repo ask authctl for their key through their own helper
 * settings (Claude Code's apiKeyHelper, Codex's model_providers.<id>.auth.command), against a fake
 * upstream that takes only the stored key: the key reaches the upstream, and no file the CLI
 * wrote, nor anything it printed, holds it.
 */
const CLAUDE = join(REPO, "node_modules/.bin/claude");
const CODEX = join(REPO, "node_modules/.bin/codex");
const CLI_TIMEOUT_MS = 90_000;

const t = tempHome("authctl-vendor-helpers-");
const clientRoot = mkdtempSync(join(tmpdir(), "authctl-vendor-client-"));
const binDir = join(clientRoot, "bin");
const callLog = join(clientRoot, "calls.log");
const calls = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);
const anthropicKey = canary("sk-ant-");
const openaiKey = canary("sk-");
let upstream: Awaited<ReturnType<typeof fakeUpstream>>;

beforeAll(async () => {
  upstream = await fakeUpstream((req, res, body) => {
    const presented = String(req.headers["x-api-key"] ?? req.headers.authorization?.replace(/^Bearer /, "") ?? "");
    if (![anthropicKey, openaiKey].includes(presented)) return void res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"message":"bad key"}}');
    if (anthropicMessages(req, res, body) || openaiResponses(req, res)) return;
    res.writeHead(404, { "content-type": "application/json" }).end("{}");
  });
  for (const [provider, key] of [["anthropic", anthropicKey], ["openai", openaiKey]] as const) {
    const r = await authctl(t.home, ["key", provider, "--stdin"], { input: key });
    expect(r.exitCode).toBe(0);
  }
  // `authctl` on the CLIs' PATH, as an installed bin would be; it notes each call (its arguments, never a key).
  mkdirSync(binDir, { recursive: true });
  writeFileSync(join(binDir, "authctl"), `#!/bin/sh\necho "$*" >> ${JSON.stringify(callLog)}\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(join(binDir, "authctl"), 0o755);
}, 60_000);

afterAll(async () => {
  await upstream?.close();
  t.cleanup();
});

/** A fresh HOME for one CLI run; authctl's own settings (its home, the test's key file) come with the environment. */
function clientEnv(clientHome: string, extra: Record<string, string>): Record<string, string> {
  const env = childEnv(t.home, { ...OFFLINE_CLIENT_ENV, HOME: clientHome, PATH: `${binDir}:${process.env.PATH ?? ""}`, ...extra });
  for (const name of ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "CODEX_API_KEY", "CLAUDE_CONFIG_DIR", "CODEX_HOME"]) if (!(name in extra)) delete env[name];
  return env;
}

function assertKeyStaysOut(clientHome: string, output: string, key: string): void {
  expect(output).not.toContain(key);
  expect(filesContaining(clientHome, key)).toEqual([]);
}

describe("vendor key helpers calling authctl token", () => {
  /** One `claude -p hi` with apiKeyHelper set; what reached the upstream and how often the helper ran. */
  async function claudeRun(ttlMs: string) {
    const clientHome = mkdtempSync(join(clientRoot, "claude-"));
    mkdirSync(join(clientHome, ".claude"), { recursive: true });
    writeFileSync(join(clientHome, ".claude", "settings.json"), JSON.stringify({ apiKeyHelper: "authctl token anthropic" }));
    const [before, callsBefore] = [upstream.arrivals.length, calls().length];
    const env = clientEnv(clientHome, { ANTHROPIC_BASE_URL: upstream.url, CLAUDE_CODE_API_KEY_HELPER_TTL_MS: ttlMs });
    const run = await execa(CLAUDE, ["-p", "hi"], { env, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS, cwd: clientHome, stdin: "ignore" });
    const output = `${run.stdout}\n${run.stderr}`;
    const messages = upstream.arrivals.slice(before).filter((a) => a.url.startsWith("/v1/messages"));
    return { clientHome, output, messages, helperCalls: calls().slice(callsBefore) };
  }

  it("Claude Code's apiKeyHelper: `claude -p` sends the key `authctl token anthropic` printed, asking once within its TTL", async () => {
    const { clientHome, output, messages, helperCalls } = await claudeRun("600000");
    expect(output).toContain(REPLY_TEXT);
    expect(messages.length).toBeGreaterThan(0);
    for (const a of messages) expect(a.headers["x-api-key"] ?? a.headers.authorization?.replace(/^Bearer /, "")).toBe(anthropicKey);
    expect(helperCalls).toEqual(["token anthropic"]);
    assertKeyStaysOut(clientHome, output, anthropicKey);
  });

  it("Claude Code honours CLAUDE_CODE_API_KEY_HELPER_TTL_MS: with 1 ms it asks authctl again", async () => {
    // Claude asks its helper at start and again before its request once the TTL has passed; a request
    // made while the first call is still running (a slow, loaded machine) shares that call. So up to
    // three runs: a TTL that was ignored never asks twice, however many runs it gets.
    const counts: number[] = [];
    for (let attempt = 0; attempt < 3 && !counts.some((n) => n > 1); attempt++) {
      const { clientHome, output, helperCalls } = await claudeRun("1");
      expect(output).toContain(REPLY_TEXT);
      assertKeyStaysOut(clientHome, output, anthropicKey);
      counts.push(helperCalls.length);
    }
    expect(Math.max(...counts), `helper calls per run: ${counts.join(", ")}`).toBeGreaterThan(1);
  }, 3 * CLI_TIMEOUT_MS);

  it("Codex's model_providers.<id>.auth.command: `codex exec` sends the key `authctl token openai` printed", async () => {
    const clientHome = mkdtempSync(join(clientRoot, "codex-"));
    const codexHome = join(clientHome, ".codex");
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(
      join(codexHome, "config.toml"),
      [
        'model_provider = "authctl-openai"',
        "",
        "[model_providers.authctl-openai]",
        'name = "OpenAI through authctl"',
        `base_url = "${upstream.url}/v1"`,
        'wire_api = "responses"',
        "",
        "[model_providers.authctl-openai.auth]",
        'command = "authctl"',
        'args = ["token", "openai"]',
        "timeout_ms = 10000",
        "refresh_interval_ms = 300000",
        "",
      ].join("\n"),
    );
    const before = upstream.arrivals.length;
    const env = clientEnv(clientHome, { CODEX_HOME: codexHome });
    const run = await execa(CODEX, ["exec", "--skip-git-repo-check", "hi"], { env, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS, cwd: clientHome, stdin: "ignore" });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).toContain(REPLY_TEXT);
    const responses = upstream.arrivals.slice(before).filter((a) => a.url.startsWith("/v1/responses") && !a.upgrade);
    expect(responses.length).toBeGreaterThan(0);
    for (const a of responses) expect(a.headers.authorization).toBe(`Bearer ${openaiKey}`);
    assertKeyStaysOut(clientHome, output, openaiKey);
  });
});
