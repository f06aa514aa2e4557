import { afterAll, describe, expect, it } from "vitest";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const run = (args: string[], input?: string) => runInProcess(childEnv(t.home), args, input);

describe("one grammar for naming a credential (issue 21 item 1, in-process)", () => {
  it("creds show and rm take `<provider> --set S` as every other command does, and still `set:provider`", async () => {
    const key = canary("sk-ant-api03-");
    expect((await run(["key", "anthropic", "--set", "ci"], key)).exitCode).toBe(0);
    const byFlag = await run(["creds", "show", "anthropic", "--set", "ci", "--json"]);
    expect(byFlag.exitCode, byFlag.stderr).toBe(0);
    expect(JSON.parse(byFlag.stdout)).toMatchObject({ credentialSet: "ci", provider: "anthropic" });
    const byRef = await run(["creds", "show", "ci:anthropic", "--json"]);
    expect(JSON.parse(byRef.stdout)).toEqual(JSON.parse(byFlag.stdout));
    // Both, disagreeing: ambiguous, so refused naming both.
    const both = await run(["creds", "show", "ci:anthropic", "--set", "prod"]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain(`"ci:anthropic" names set "ci" but --set says "prod"`);
    const rm = await run(["creds", "rm", "anthropic", "--set", "ci", "--json"]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toMatchObject({ removed: "ci:anthropic" });
    for (const r of [byFlag, byRef, both, rm]) expect(r.stdout + r.stderr).not.toContain(key);
  });

  it("auth --mode takes the roster's api_key and the older api-key alike; help and errors say api_key", async () => {
    for (const [mode, set] of [["api_key", "snake"], ["api-key", "kebab"]] as const) {
      const key = canary("sk-ant-api03-");
      const r = await run(["auth", "anthropic", "--mode", mode, "--set", set], key);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(key);
      expect((await run(["creds", "show", "anthropic", "--set", set, "--json"])).exitCode).toBe(0);
    }
    const help = await run(["auth", "--help"]);
    expect(help.stdout).toContain("api_key");
    expect(help.stdout).not.toContain("api-key");
    const bad = await run(["auth", "anthropic", "--mode", "apikey"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("oauth, api_key");
    expect(bad.stderr).not.toContain("api-key");
  });

  it("--project on key and run, as on auth: the project's set unless --set is given", async () => {
    const key = canary("sk-ant-api03-");
    const stored = await run(["key", "anthropic", "--project", "apollo"], key);
    expect(stored.exitCode, stored.stderr).toBe(0);
    expect(stored.stdout).toContain("Stored apollo:anthropic");
    const r = await run(["run", "--no-token", "--project", "apollo", "--", "sh", "-c", 'test -n "$ANTHROPIC_API_KEY"']);
    expect(r.exitCode, r.stderr).toBe(0);
    const explicit = await run(["key", "anthropic", "--project", "apollo", "--set", "other"], canary("sk-ant-api03-"));
    expect(explicit.stdout).toContain("Stored other:anthropic");
    for (const x of [stored, r, explicit]) expect(x.stdout + x.stderr).not.toContain(key);
  });
});
