import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { containersNamed, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { useFakeVendor } from "../helpers/roster.js";

/**
 * A container login whose credential could not be stored fails before its container starts: before,
 * the vendor's login ran to its end and only then came "wrong passphrase … nothing was read or
 * changed". The image's `claude` is the fake vendor in its instant mode (it logs in at once).
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-store-first-");
afterAll(() => t.cleanup());
const PASSPHRASE = "correct horse battery staple 42";
const VENDOR_RAN = "Welcome to Claude Code (fake)";

describe.runIf(hasEngine)("a container login checks the store before its container", () => {
  it("a wrong AUTHCTL_PASSPHRASE: the login never starts, and the right one logs in", async () => {
    useFakeVendor(t.home, "claude", "instant");
    const key = canary("sk_test_");
    expect((await authctl(t.home, ["key", "stripe", "--stdin"], { input: key, extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } })).exitCode).toBe(0);
    const login = (passphrase: string) =>
      authctl(t.home, ["auth", "claude", "--project", "storefirst", "--mode", "oauth", "--image", TEST_IMAGE], { extraEnv: { AUTHCTL_PASSPHRASE: passphrase } });

    const WRONG = "wrong horse battery staple 4242";
    const wrong = await login(WRONG);
    expect(wrong.exitCode).toBe(1);
    expect(String(wrong.stderr)).toContain("wrong passphrase (from AUTHCTL_PASSPHRASE)");
    expect(String(wrong.stdout) + String(wrong.stderr)).not.toContain(VENDOR_RAN);
    expect(String(wrong.stdout) + String(wrong.stderr)).not.toContain(WRONG);
    expect(containersNamed("storefirst-auth-")).toEqual([]);

    const right = await login(PASSPHRASE);
    expect(right.exitCode, String(right.stderr)).toBe(0);
    expect(String(right.stdout)).toContain(VENDOR_RAN);
    expect(String(right.stdout)).toContain("Stored storefirst:claude (oauth");
    expect(String(right.stdout) + String(right.stderr)).not.toContain(key);
  });
});
