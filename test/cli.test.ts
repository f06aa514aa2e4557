import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const seen: string[] = [];
/** The many cases run in-process (commands shaped like gh's, in-memory streams); see "the binary" below for exit codes and pipes. */
async function run(args: string[], options: { input?: string } = {}) {
  const r = await runInProcess(childEnv(t.home), args, options.input);
  seen.push(r.stdout, r.stderr);
  return r;
}

describe("authctl commands (in-process)", () => {
  const key = canary("sk-ant-api03-");

  it("stores a key from stdin, lists it and shows it redacted", async () => {
    const stored = await run(["key", "anthropic", "--set", "ci", "--stdin"], { input: key });
    expect(stored.exitCode).toBe(0);
    expect(stored.stdout).toContain("Stored ci:anthropic");

    const list = await run(["creds", "list"]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/ci\s+anthropic\s+api_key\s+sk-…/);

    const show = await run(["creds", "show", "ci:anthropic", "--json"]);
    expect(show.exitCode).toBe(0);
    const shown = JSON.parse(String(show.stdout));
    expect(shown).toMatchObject({ credentialSet: "ci", provider: "anthropic", kind: "api_key", preview: `sk-…${key.slice(-4)}` });
  });

  it("lists as JSON and filters by set", async () => {
    await run(["key", "openai", "--set", "dev"], { input: canary("sk-proj-") });
    const ci = JSON.parse(String((await run(["creds", "list", "--set", "ci", "--json"])).stdout));
    expect(ci.map((r: { provider: string }) => r.provider)).toEqual(["anthropic"]);
    const all = JSON.parse(String((await run(["creds", "list", "--json"])).stdout));
    expect(all).toHaveLength(2);
  });

  it("exit 3 with the fixing command when a credential is missing", async () => {
    const r = await run(["creds", "show", "ci:stripe"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain("run: authctl key stripe --set ci");
  });

  it("exit 2 for usage errors, and a key is never accepted as an argument", async () => {
    expect((await run(["creds", "frobnicate"])).exitCode).toBe(2);
    expect((await run(["key"])).exitCode).toBe(2);
    const argKey = await run(["key", "anthropic", "--api-key", canary("sk-ant-")]);
    expect(argKey.exitCode).toBe(2);
    expect(argKey.stderr).toContain("--api-key only takes '-'");
    expect((await run(["creds", "show", "bad set:anthropic"])).exitCode).toBe(2);
    expect((await run(["key", "nosuch", "--stdin"], { input: "x" })).stderr).toMatch(/unknown provider "nosuch"/);
  });

  it("--api-key - reads stdin", async () => {
    const r = await run(["key", "stripe", "--set", "efs", "--api-key", "-"], { input: canary("sk_test_") + "\n" });
    expect(r.exitCode).toBe(0);
  });

  it("a bad key is refused naming the prefixes and keeps the stored one", async () => {
    const bad = canary("xx-");
    const r = await run(["key", "anthropic", "--set", "ci", "--stdin"], { input: bad });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('expected it to start with "sk-ant-"');
    const show = JSON.parse(String((await run(["creds", "show", "ci:anthropic", "--json"])).stdout));
    expect(show.preview).toBe(`sk-…${key.slice(-4)}`);
  });

  it("rm removes one credential", async () => {
    expect((await run(["creds", "rm", "dev:openai"])).exitCode).toBe(0);
    expect((await run(["creds", "rm", "dev:openai"])).exitCode).toBe(3);
  });

  it("providers lists modes, as text and JSON", async () => {
    const text = await run(["providers"]);
    expect(text.stdout).toMatch(/claude\s+Claude Code\s+agent\s+oauth,api_key/);
    const json = JSON.parse(String((await run(["providers", "--json"])).stdout));
    expect(json.find((p: { name: string }) => p.name === "stripe").modes).toEqual(["api_key"]);
  });

  it("status says which source unlocked the store", async () => {
    const r = await run(["status", "--json"]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(String(r.stdout))).toMatchObject({ unlockedBy: "key file", keyKind: "keyfile" });
  });

  it("a bad user roster file is a warning naming the file and field; the other providers are listed", async () => {
    const other = tempHome();
    mkdirSync(join(other.home, "agents"), { recursive: true });
    writeFileSync(join(other.home, "agents", "x.yaml"), "name: x\nlabel: X\nkind: tool\nmodes: [api_key]\napi_key: { env_var: lower }\n");
    const r = await runInProcess(childEnv(other.home), ["providers"]);
    other.cleanup();
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("anthropic");
    expect(r.stderr).toMatch(/skipped roster file .*agents\/x\.yaml: api_key\.env_var: must be an environment variable name/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("--help works for every command and output is plain when not a TTY", async () => {
    for (const args of [["--help"], ["key", "--help"], ["creds", "list", "--help"], ["status", "--help"]]) {
      const r = await run(args);
      expect(r.exitCode).toBe(0);
      expect(String(r.stdout)).not.toContain("\u001b[");
    }
  });

  it("no output of any command contained the canary", () => {
    expect(seen.join("\n")).not.toContain(key);
    expect(seen.join("\n")).not.toMatch(/CANARY[0-9a-f]{24}/);
  });
});

describe("the binary: exit codes and pipes (what only a process shows)", () => {
  const home = tempHome();
  afterAll(() => home.cleanup());
  it("0 ok, 1 error, 2 usage, 3 missing credentials", async () => {
    expect((await authctl(home.home, ["key", "stripe", "--stdin"], { input: canary("sk_test_") })).exitCode).toBe(0);
    const bad = await authctl(home.home, ["key", "stripe", "--stdin"], { input: canary("xx_") });
    expect(bad.exitCode).toBe(1);
    expect(String(bad.stderr)).toMatch(/^authctl: the stripe API key does not look right/);
    expect((await authctl(home.home, ["creds", "frobnicate"])).exitCode).toBe(2);
    expect((await authctl(home.home, ["key", "anthropic", "--api-key", canary("sk-ant-")])).exitCode).toBe(2);
    const missing = await authctl(home.home, ["creds", "show", "ci:stripe"]);
    expect(missing.exitCode).toBe(3);
    expect(String(missing.stderr)).toContain("run: authctl key stripe --set ci");
    expect((await authctl(home.home, ["--version"])).exitCode).toBe(0);
  });

  it("a reader that closes the pipe early gets no stack trace", async () => {
    const { execa } = await import("execa");
    const r = await execa("sh", ["-c", `node "$0" providers | true`, CLI], { env: childEnv(t.home), extendEnv: false, reject: false });
    expect(String(r.stderr)).not.toMatch(/EPIPE|\n\s+at /);
  });
});

describe("concurrent writers", () => {
  it("several processes writing distinct keys at once lose nothing", async () => {
    const c = tempHome();
    const writers = 6;
    const perWriter = 15;
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        (async () => {
          for (let i = 0; i < perWriter; i++) {
            const r = await authctl(c.home, ["key", "openai", "--set", `w${w}-${i}`, "--stdin"], { input: canary("sk-") });
            expect(r.stderr).toBe("");
            expect(r.exitCode).toBe(0);
          }
        })(),
      ),
    );
    const list = JSON.parse(String((await authctl(c.home, ["creds", "list", "--json"])).stdout));
    c.cleanup();
    expect(list).toHaveLength(writers * perWriter);
  }, 180_000);
});
