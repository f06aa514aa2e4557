import { afterAll, describe, expect, it } from "vitest";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const seen: string[] = [];
const keys: string[] = [];
async function run(args: string[], input?: string) {
  const r = await runInProcess(childEnv(t.home), args, input);
  seen.push(r.stdout, r.stderr);
  return r;
}
async function storeKey(provider: string, set: string, key: string, ...extra: string[]) {
  keys.push(key);
  return run(["key", provider, "--set", set, "--stdin", ...extra], key);
}

afterAll(() => {
  for (const key of keys) expect(seen.join("\n")).not.toContain(key);
});

describe("a missing credential is exit 3 with the exact fix", () => {
  it("proxy client: exit 3, the fix command, and the refused provider is not offered", async () => {
    const r = await run(["proxy", "client", "anthropic", "--set", "nokeys", "--session", "s1", "--base-url", "http://127.0.0.1:9"]);
    expect(r.stderr).toContain("run: authctl key anthropic --set nokeys");
    expect(r.stderr).not.toMatch(/proxy clients exist for .*anthropic/);
    expect(r.exitCode).toBe(3);
  });

  it("container-args --project: exit 3 with the project's login command", async () => {
    const r = await run(["container-args", "claude", "--project", "foo"]);
    expect(r.stderr).toContain("run: authctl auth claude --project foo");
    expect(r.stderr).not.toMatch(/proxy clients exist for .*claude/);
    expect(r.exitCode).toBe(3);
  });

  it("container-args --set with an API-key provider: exit 3 with `authctl key … --set`", async () => {
    const r = await run(["container-args", "anthropic", "--set", "x"]);
    expect(r.stderr).toContain("run: authctl key anthropic --set x");
    expect(r.exitCode).toBe(3);
  });
});

describe("creds rm of a credential that is not stored", () => {
  it("says there is nothing to remove and what the set holds, never suggests adding a key", async () => {
    expect((await storeKey("anthropic", "nope", canary("sk-ant-api03-"))).exitCode).toBe(0);
    const r = await run(["creds", "rm", "nope:openai"]);
    expect(r.stderr).not.toContain("authctl key");
    expect(r.stderr).toContain("nothing to remove");
    expect(r.stderr).toMatch(/nope holds: anthropic/);
    expect(r.exitCode).toBe(3);
    const empty = await run(["creds", "rm", "gone:anthropic"]);
    expect(empty.stderr).toContain("authctl creds list");
    expect(empty.exitCode).toBe(3);
  });
});

describe("run --set of a set that does not exist", () => {
  it("refuses before starting the command, naming the set, the sets that exist and the fix", async () => {
    await storeKey("openai", "ci", canary("sk-proj-"));
    const r = await run(["run", "--set", "typo", "--", process.execPath, "-e", "console.log('RAN-IT')"]);
    expect(r.stdout).not.toContain("RAN-IT");
    expect(r.stderr).toContain('"typo"');
    expect(r.stderr).toMatch(/sets that exist: .*ci/);
    expect(r.stderr).toContain("--set typo");
    expect(r.exitCode).toBe(3);
  });

  it("a set that exists still runs", async () => {
    const r = await run(["run", "--set", "ci", "--", process.execPath, "-e", "console.log('RAN-IT', !!process.env.OPENAI_API_KEY)"]);
    expect(r.exitCode).toBe(0);
  });
});

describe("key formats per vendor", () => {
  it.each(["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"])("key gh accepts %s", async (prefix) => {
    const r = await storeKey("gh", "gh", canary(prefix));
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  it("key openai refuses an Anthropic key, naming anthropic; --force stores it anyway", async () => {
    const key = canary("sk-ant-api03-");
    const r = await storeKey("openai", "fmt", key);
    expect(r.stderr).toMatch(/looks like an? .*anthropic/i);
    expect(r.stderr).toContain("--force");
    expect(r.exitCode).toBe(1);
    expect((await run(["creds", "show", "fmt:openai"])).exitCode).toBe(3);
    const forced = await storeKey("openai", "fmt", key, "--force");
    expect(forced.exitCode).toBe(0);
    expect((await run(["creds", "show", "fmt:openai"])).exitCode).toBe(0);
  });

  it("key openai still takes an OpenAI key, and --force stores a key of no known prefix", async () => {
    expect((await storeKey("openai", "fmt2", canary("sk-proj-"))).exitCode).toBe(0);
    expect((await storeKey("stripe", "fmt2", canary("xx-"))).exitCode).toBe(1);
    expect((await storeKey("stripe", "fmt2", canary("xx-"), "--force")).exitCode).toBe(0);
  });

  it("key --command: its output is checked the same way when stored", async () => {
    const key = canary("sk-ant-api03-");
    keys.push(key);
    const r = await run(["key", "openai", "--set", "cmd", "--command", "--", process.execPath, "-e", `process.stdout.write('${key}')`]);
    expect(r.stderr).toMatch(/anthropic/i);
    expect(r.exitCode).toBe(1);
  });
});
