import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiKeyStrategy, HostTokenStrategy, resolveAuthStrategy } from "../src/access/strategies.js";
import { Authctl } from "../src/context.js";
import { MissingCredentialsError, UsageError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import { storeApiKey } from "../src/logins/api-key/apiKey.js";
import type { OAuth2Payload } from "../src/logins/oauth2/client.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";
import { FakeIdentityServer } from "./helpers/fake-identity.js";
import { msgraphAt, oauth2At, writeUserRoster } from "./helpers/host-roster.js";
import { auditPath, readAudit } from "../src/store/audit.js";

describe("AuthStrategy, ApiKeyStrategy, resolveAuthStrategy", () => {
  let home: string;
  let cleanup: () => void;
  let server: FakeIdentityServer | undefined;
  const contextWith = (env: Record<string, string> = {}, now?: () => number) =>
    new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: home, ...env }, home, ...(now ? { clock: { now } } : {}) });

  beforeEach(() => ({ home, cleanup } = tempHome()));
  afterEach(async () => {
    await server?.close();
    server = undefined;
    cleanup();
  });

  it("an API key resolves explicit → store → profile env var → roster env var, and says which won", async () => {
    const [explicit, stored, profileEnv, fallback] = [canary("sk_live_"), canary("sk_live_"), canary("sk_live_"), canary("sk_live_")];
    using context = contextWith({ MY_STRIPE: profileEnv, STRIPE_API_KEY: fallback });
    const source = async (profile: object) => (await new ApiKeyStrategy({ auth_type: "api_key", provider: "stripe", ...profile }, { context }).getCredentials());
    expect(await source({})).toMatchObject({ secret: fallback, source: "fallback_env" });
    expect(await source({ env_var: "MY_STRIPE" })).toMatchObject({ secret: profileEnv, source: "profile_env" });
    storeApiKey("stripe", stored, { context });
    expect(await source({ env_var: "MY_STRIPE" })).toMatchObject({ secret: stored, source: "store" });
    expect(await source({ env_var: "MY_STRIPE", api_key: explicit })).toMatchObject({ secret: explicit, source: "explicit" });
  });

  it("a missing key is MissingCredentialsError with the command that fixes it; isValid is false", async () => {
    using context = contextWith();
    const strategy = new ApiKeyStrategy({ auth_type: "api_key", provider: "openai", credential_set: "ci" }, { context });
    expect(await strategy.isValid()).toBe(false);
    expect(await strategy.refreshIfNeeded()).toBe(false);
    const error = await strategy.getCredentials().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingCredentialsError);
    expect((error as MissingCredentialsError).fixCommand).toBe("authctl key openai --set ci");
  });

  it("resolveAuthStrategy picks by auth_type and lists the known ones for an unknown one", () => {
    using context = contextWith();
    expect(resolveAuthStrategy({ auth_type: "api_key", provider: "stripe" }, { context })).toBeInstanceOf(ApiKeyStrategy);
    expect(resolveAuthStrategy({ auth_type: "oauth", provider: "msgraph" }, { context })).toBeInstanceOf(HostTokenStrategy);
    expect(() => resolveAuthStrategy({ auth_type: "kerberos", provider: "stripe" }, { context })).toThrow(UsageError);
    expect(() => resolveAuthStrategy({ auth_type: "kerberos", provider: "stripe" }, { context })).toThrow(/known: api_key, oauth/);
  });

  it("a generic OAuth 2.0 token is refreshed when it expires, once, by one owner, and the rotated token persists", async () => {
    const prefix = canary("s");
    server = await FakeIdentityServer.start(prefix, { expiresIn: 3600 });
    writeUserRoster(home, oauth2At(server.base, "oauth2_device"));
    let now = Date.now();
    using context = contextWith({}, () => now);
    await (await prepareHostLogin("fakehub", { context })).capture();
    const strategy = new HostTokenStrategy({ auth_type: "oauth", provider: "fakehub" }, { context });
    const first = await strategy.getCredentials();
    expect(await strategy.refreshIfNeeded()).toBe(false);
    now += 3600_000; // expired
    const results = await Promise.all([strategy.getCredentials(), strategy.getCredentials(), strategy.getCredentials()]);
    expect(server.grants.filter((g) => g.grant_type === "refresh_token")).toHaveLength(1);
    expect(new Set(results.map((r) => r.secret)).size).toBe(1);
    expect(results[0]!.secret).not.toBe(first.secret);
    const stored = context.store().get<OAuth2Payload>("default", "fakehub")!.payload;
    expect(stored.refresh_token).toBe(server.issued.filter((t) => t.includes("rt")).at(-1));
    // Lifecycle audit: one capture, one refresh (by the one owner), no token in the log.
    const events = readAudit(auditPath(context.home)).filter((e) => e.target === "default:fakehub");
    expect(events.map((e) => [e.op, e.kind, e.actor])).toEqual([["captured", "device_flow", "local"], ["refreshed", "device_flow", "local"]]);
    expect(readFileSync(auditPath(context.home), "utf8")).not.toContain(prefix);
  });

  it("a Microsoft login gives its access token through the strategy (MSAL silent from the stored cache)", async () => {
    server = await FakeIdentityServer.start(canary("m"));
    writeUserRoster(home, msgraphAt(server.msalMetadata()));
    using context = contextWith();
    const strategy = resolveAuthStrategy({ auth_type: "oauth", provider: "msgraph" }, { context });
    expect(await strategy.isValid()).toBe(false);
    await (await prepareHostLogin("msgraph", { context })).capture();
    expect((await strategy.getCredentials()).secret).toBe(server.issued.find((t) => t.includes("at")));
    expect(await strategy.isValid()).toBe(true);
  });
});
