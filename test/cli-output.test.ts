import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { memoryIO, runInProcess } from "./helpers/memory-io.js";
import { runCli } from "../src/cli/program.js";
import { startProxyServe } from "./helpers/proxy-serve.js";

const t = tempHome();
afterAll(() => t.cleanup());
const run = (args: string[], input?: string) => runInProcess(childEnv(t.home), args, input);

describe("authctl output (in-process)", () => {
  it("`version` and `-v` print the version, as `--version` does", async () => {
    const long = await run(["--version"]);
    expect(long.exitCode).toBe(0);
    expect(long.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    for (const args of [["version"], ["-v"], ["-V"]]) {
      const r = await run(args);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe(long.stdout);
      expect(r.stderr).toBe("");
    }
  });

  it("no arguments: the root help on stdout, exit 0", async () => {
    const r = await run([]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("Usage: authctl");
    expect(r.exitCode).toBe(0);
  });

  it("the key prompt on a terminal names the key once: \"Anthropic API key\", not \"Anthropic API API key\"", async () => {
    const key = canary("sk-ant-api03-");
    const m = memoryIO(childEnv(t.home), `${key}\r`);
    // A terminal as far as the prompt can tell (isTTY), so `key` asks instead of reading a pipe.
    Object.assign(m.io.stdin, { isTTY: true, setRawMode: () => m.io.stdin });
    const code = await runCli(["key", "anthropic", "--set", "prompted"], m.io);
    expect(code, m.stderr()).toBe(0);
    expect(m.stderr()).toContain("Paste the Anthropic API key");
    expect(m.stderr()).not.toMatch(/API API/);
    expect(m.stdout() + m.stderr()).not.toContain(key);
  });

  it("proxy revoke of a session that never was: an error naming it and where sessions are listed, exit 1", async () => {
    const r = await run(["proxy", "revoke", "typo"]);
    expect(r.stdout).not.toMatch(/revoked 0/);
    expect(r.stderr).toContain(`authctl: no proxy session "typo"`);
    expect(r.stderr).toContain(join(t.home, "agent-sessions"));
    expect(r.exitCode).toBe(1);
    const pasted = canary("sk-ant-api03-") + " x";
    const odd = await run(["proxy", "revoke", pasted]);
    expect(odd.exitCode).toBe(1);
    expect(odd.stderr).not.toContain(pasted.slice(0, -2));
  });

  it("with --json, an error is one JSON object on stderr: code, message and the fixing command; exit codes unchanged", async () => {
    const missing = await run(["creds", "show", "ci:stripe", "--json"]);
    expect(missing.exitCode).toBe(3);
    expect(missing.stdout).toBe("");
    expect(JSON.parse(missing.stderr)).toEqual({
      error: { code: "missing_credentials", message: expect.stringContaining("no credentials for ci:stripe"), fix: "authctl key stripe --set ci" },
    });

    const usage = await run(["creds", "show", "bad set:anthropic", "--json"]);
    expect(usage.exitCode).toBe(2);
    const parsed = JSON.parse(usage.stderr);
    expect(parsed.error.code).toBe("usage");
    expect(parsed.error).not.toHaveProperty("fix");

    const unknownOption = await run(["creds", "list", "--json", "--frobnicate"]);
    expect(unknownOption.exitCode).toBe(2);
    expect(JSON.parse(unknownOption.stderr).error).toEqual({ code: "usage", message: expect.stringContaining("--frobnicate") });

    const badKey = canary("xx_");
    const invalid = await run(["key", "stripe", "--stdin", "--json"], badKey);
    expect(invalid.exitCode).toBe(1);
    expect(JSON.parse(invalid.stderr).error).toEqual({ code: "error", message: expect.stringContaining("the stripe API key does not look right") });
    expect(invalid.stderr).not.toContain(badKey);

    // `--json` meant for the command run after `--` is not authctl's.
    const plain = await run(["creds", "show", "ci:stripe", "--", "--json"]);
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toMatch(/^error: too many arguments/);
  });

  it("--json on proxy revoke and serve stop: what was done, as JSON on stdout", async () => {
    expect((await run(["key", "anthropic", "--set", "rv", "--stdin"], canary("sk-ant-api03-"))).exitCode).toBe(0);
    const client = await run(["proxy", "client", "anthropic", "--set", "rv", "--session", "rv-1", "--base-url", "http://127.0.0.1:9", "--json"]);
    expect(client.exitCode, client.stderr).toBe(0);
    const revoke = await run(["proxy", "revoke", "rv-1", "--json"]);
    expect(revoke.exitCode, revoke.stderr).toBe(0);
    expect(JSON.parse(revoke.stdout)).toEqual({ sessionId: "rv-1", revoked: 2, filesRemoved: false });
    const again = await run(["proxy", "revoke", "rv-1", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ sessionId: "rv-1", revoked: 0, filesRemoved: false });

    const stop = await run(["serve", "stop", "--json"]);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(JSON.parse(stop.stdout)).toEqual({ stopped: false });
  });

  it("--json on creds rm: what was removed, as JSON on stdout", async () => {
    expect((await run(["key", "stripe", "--set", "rmj", "--stdin"], canary("sk_test_"))).exitCode).toBe(0);
    const rm = await run(["creds", "rm", "rmj:stripe", "--json"]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toEqual({ removed: "rmj:stripe", kind: "api_key", removedFiles: [] });
    const again = await run(["creds", "rm", "rmj:stripe", "--json"]);
    expect(again.exitCode).toBe(3);
    expect(again.stdout).toBe("");
    expect(JSON.parse(again.stderr).error.code).toBe("missing_credentials");
  });

  it("serve stop --json names the daemon it stopped (the built CLI's daemon, stopped in-process)", async () => {
    const daemon = await startProxyServe(t.home, []);
    try {
      const stop = await run(["serve", "stop", "--json"]);
      expect(stop.exitCode, stop.stderr).toBe(0);
      expect(JSON.parse(stop.stdout)).toEqual({ stopped: true, pid: expect.any(Number) });
    } finally {
      await daemon.stop();
    }
  });
});
