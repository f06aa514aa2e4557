import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { runInPty } from "./helpers/pty.js";

const t = tempHome();
afterAll(() => t.cleanup());

describe("on a terminal", () => {
  it("authctl key prompts with echo off and stores the key", async () => {
    const key = canary("sk-ant-");
    const run = runInPty(["node", CLI, "key", "anthropic", "--set", "tty"], childEnv(t.home));
    await run.waitFor(/ANTHROPIC_API_KEY: $/m);
    run.type(key + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(run.output()).toContain("Stored tty:anthropic");
    expect(run.output()).not.toContain(key);
    const show = await authctl(t.home, ["creds", "show", "tty:anthropic", "--json"]);
    expect(JSON.parse(String(show.stdout)).preview).toBe(`sk-…${key.slice(-4)}`);
  });

  it("a passphrase store asks for the passphrase once, hidden, and refuses a wrong one", async () => {
    const home = tempHome();
    const key = canary("sk_test_");
    const stored = await authctl(home.home, ["key", "stripe", "--stdin"], { input: key, extraEnv: { AUTHCTL_PASSPHRASE: "open sesame" } });
    expect(stored.exitCode).toBe(0);

    const right = runInPty(["node", CLI, "status"], childEnv(home.home));
    await right.waitFor(/authctl store passphrase: $/m);
    right.type("open sesame\r");
    expect((await right.child).exitCode, right.output()).toBe(0);
    expect(right.output()).toMatch(/unlocked by\s+tty passphrase/);
    expect(right.output()).not.toContain("open sesame");

    const wrong = runInPty(["node", CLI, "status"], childEnv(home.home));
    await wrong.waitFor(/authctl store passphrase: $/m);
    wrong.type("not it\r");
    expect((await wrong.child).exitCode).toBe(1);
    expect(wrong.output()).toMatch(/wrong passphrase/);
    home.cleanup();
  });
});
