import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { secretOf } from "../../src/access/delivery.js";
import { resolveAuthStrategy } from "../../src/access/strategies.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { resolveGrants } from "../../src/run/grants.js";
import { authctl, canary } from "../helpers/env.js";
import { listeningService } from "../helpers/service.js";
import { useHostLoginFixture } from "../helpers/host-roster.js";
import { TYPES, useTypedFixture } from "./payload-types.js";

describe("every payload type round-trips store → run's env, the service's get, a strategy", () => {
  const { host, context } = useTypedFixture("ty");

  for (const [type, store] of Object.entries(TYPES)) {
    it(`${type}: run's env, the service's get and a strategy all deliver its secret`, async () => {
      const stored = await store(host, context);
      const ctx = context();

      const env = resolveGrants(ctx, { only: [stored.provider] });
      expect(env.grants).toEqual([expect.objectContaining({ provider: stored.provider, secret: stored.secret })]);
      expect(env.grants[0]!.envNames).toContain(stored.envVar);

      const service = await listeningService(ctx);
      try {
        const client = new ServiceClient({ socketPath: service.socketPath, adminKey: ctx.store().subkey(ADMIN_KEY_LABEL) });
        expect(secretOf(await client.get("default", stored.provider))).toBe(stored.secret);
      } finally {
        await service.stop();
      }

      const strategy = resolveAuthStrategy({ auth_type: stored.authType, provider: stored.provider }, { context: ctx });
      expect((await strategy.getCredentials()).secret).toBe(stored.secret);
    }, 30_000);

  }
});

describe("`authctl run` exports a host login's token (the issue's reproduction)", () => {
  const { host, context } = useTypedFixture("rn");

  it("with delivery.oauth_env_var: GITHUB_TOKEN, `run --only github-oauth` gives the child the OAuth 2.0 access token", async () => {
    const stored = await TYPES.oauth2_token_set!(host, context);
    const printHash = `console.log("sha=" + require("node:crypto").createHash("sha256").update(process.env.GITHUB_TOKEN ?? "").digest("hex"))`;
    const r = await authctl(host.home, ["run", "--no-token", "--only", "github-oauth", "--", "node", "-e", printHash]);
    expect(r.stderr).not.toMatch(/holds no secret/);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`sha=${createHash("sha256").update(stored.secret).digest("hex")}`);
    expect(r.stdout + r.stderr).not.toContain(stored.secret);
  }, 60_000);
});

describe("ServiceClient", () => {
  const host = useHostLoginFixture("ca");

  it("returns the row's real createdAt, not its updatedAt", async () => {
    let now = Date.parse("2026-01-02T03:04:05Z");
    using ctx = host.context({}, { now: () => now });
    storeApiKey("stripe", canary("sk_live_"), { context: ctx });
    now += 86_400_000;
    storeApiKey("stripe", canary("sk_live_"), { context: ctx });
    const service = await listeningService(ctx);
    try {
      const client = new ServiceClient({ socketPath: service.socketPath, adminKey: ctx.store().subkey(ADMIN_KEY_LABEL), now: () => now });
      const got = await client.get("default", "stripe");
      expect(got.createdAt.toISOString()).toBe("2026-01-02T03:04:05.000Z");
      expect(got.updatedAt.toISOString()).toBe("2026-01-03T03:04:05.000Z");
    } finally {
      await service.stop();
    }
  });
});
