import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { baseEnv } from "../helpers/context.js";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { FakeIdentityServer } from "../helpers/fake-identity.js";
import { msgraphAt, writeUserRoster } from "../helpers/host-roster.js";
import { runInProcess } from "../helpers/memory-io.js";

/**
 * A login whose credential could not be stored (a wrong passphrase, a locked store) fails before it
 * starts: before, the user went through the whole login and only then read "nothing was stored".
 * Host logins here; container logins in store-checked-first-container.test.ts.
 */
const PASSPHRASE = "correct horse battery staple 42";
const WRONG = "wrong horse battery staple 4242";

describe("a host login checks the store before the identity provider is asked", () => {
  let home: string;
  let cleanup: () => void;
  let server: FakeIdentityServer;
  let prefix: string;
  const env = (passphrase: string) => ({ ...baseEnv(), AUTHCTL_HOME: home, NO_COLOR: "1", AUTHCTL_PASSPHRASE: passphrase });

  beforeEach(async () => {
    ({ home, cleanup } = tempHome());
    prefix = canary("ss");
    server = await FakeIdentityServer.start(prefix);
    writeUserRoster(home, msgraphAt(server.msalMetadata()));
    const key = canary("sk_test_");
    const stored = await authctl(home, ["key", "stripe", "--stdin"], { input: key, extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
    expect(stored.exitCode, String(stored.stderr)).toBe(0);
  });
  afterEach(async () => {
    await server.close();
    cleanup();
  });

  it("a wrong AUTHCTL_PASSPHRASE: `session prepare` says so and never asks for a device code", async () => {
    const prepared = await runInProcess(env(WRONG), ["session", "prepare", "msgraph", "--json"]);
    expect(prepared.exitCode).toBe(1);
    expect(prepared.stderr).toContain("wrong passphrase (from AUTHCTL_PASSPHRASE)");
    expect(server.paths).toEqual([]);
    expect(prepared.stdout + prepared.stderr).not.toContain(WRONG);
  });

  it("the right one: the same prepare asks for its device code (the check above can see a request)", async () => {
    const prepared = await runInProcess(env(PASSPHRASE), ["session", "prepare", "msgraph", "--json"]);
    expect(prepared.exitCode, prepared.stderr).toBe(0);
    expect(server.paths.some((p) => p.endsWith("/devicecode"))).toBe(true);
    const { id } = JSON.parse(prepared.stdout) as { id: string };
    expect((await runInProcess(env(PASSPHRASE), ["session", "cleanup", id])).exitCode).toBe(0);
  });
});
