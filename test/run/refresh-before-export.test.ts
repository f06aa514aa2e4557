import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { GooglePayload } from "../../src/credentials/google.js";
import type { MsalPayload } from "../../src/credentials/msal.js";
import type { OAuth2Payload } from "../../src/credentials/oauth2.js";
import { prepareHostLogin } from "../../src/logins/authenticator.js";
import { authctl } from "../helpers/env.js";
import type { FakeIdentityServer } from "../helpers/fake-identity.js";
import { googleAt, msgraphAt, oauth2At, useHostLoginFixture } from "../helpers/host-roster.js";
import { runInProcess } from "../helpers/memory-io.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
/** The child prints a hash of what it was given: the test compares tokens without any reaching an output. */
const PRINT_HASH = (variable: string) => ["node", "-e", `console.log(require("crypto").createHash("sha256").update(process.env.${variable} ?? "").digest("hex"))`];

interface Flow {
  provider: string;
  variable: string;
  entry: (server: FakeIdentityServer) => { name: string } & Record<string, unknown>;
  /** Google keeps its refresh token; the others rotate it (single use: a second refresh with it fails). */
  keepsRefreshToken?: boolean;
  storedAccessToken: (payload: unknown) => string | undefined;
}

const FLOWS: Flow[] = [
  {
    provider: "fakehub",
    variable: "FAKEHUB_TOKEN",
    entry: (s) => ({ ...oauth2At(s.base, "oauth2_device"), delivery: { oauth_env_var: "FAKEHUB_TOKEN" } }),
    storedAccessToken: (p) => (p as OAuth2Payload).access_token,
  },
  {
    provider: "msgraph",
    variable: "GRAPH_TOKEN",
    entry: (s) => ({ ...msgraphAt(s.msalMetadata()), delivery: { oauth_env_var: "GRAPH_TOKEN" } }),
    storedAccessToken: (p) => {
      const cache = JSON.parse((p as MsalPayload).tokenCache) as { AccessToken: Record<string, { secret: string }> };
      return Object.values(cache.AccessToken).map((t) => t.secret).join(" ");
    },
  },
  {
    provider: "google",
    variable: "GOOGLE_TOKEN",
    entry: (s) => ({ ...googleAt(s.base), delivery: { oauth_env_var: "GOOGLE_TOKEN" } }),
    keepsRefreshToken: true,
    storedAccessToken: (p) => (p as GooglePayload).tokens.access_token ?? undefined,
  },
];

describe("run refreshes a host login's expired access token before the child gets it", () => {
  const host = useHostLoginFixture("rbe");

  /** Logs in against the fake with a one-second token, then lets it expire; later tokens live an hour. */
  async function expiredLogin(flow: Flow): Promise<{ server: FakeIdentityServer; first: string }> {
    const server = await host.start(flow.entry, { expiresIn: 1, ...(flow.keepsRefreshToken ? { refreshOmitsRefreshToken: true } : {}) });
    {
      using context = host.context();
      await using session = await prepareHostLogin(flow.provider, { context });
      const captured = session.capture();
      if (session.prompt.kind === "auth_url") await fetch(session.prompt.authUrl);
      await captured;
    }
    server.options.expiresIn = 3600;
    await new Promise((r) => setTimeout(r, 1_500));
    return { server, first: server.issued.find((t) => t.includes("at"))! };
  }

  const refreshes = (server: FakeIdentityServer) => server.grants.filter((g) => g.grant_type === "refresh_token").length;

  for (const flow of FLOWS) {
    it(`${flow.provider}: the child sees the refreshed token, which is stored`, async () => {
      const { server, first } = await expiredLogin(flow);
      const r = await runInProcess(host.env(), ["run", "--no-token", "--only", flow.provider, "--", ...PRINT_HASH(flow.variable)]);
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      // Compared by hash or as booleans: a failing assertion prints no token.
      expect(refreshes(server)).toBe(1);
      const newest = server.issued.filter((t) => t.includes("at")).at(-1)!;
      expect(sha(newest)).not.toBe(sha(first));
      expect(r.stdout.trim()).toBe(sha(newest));
      using context = host.context();
      expect(flow.storedAccessToken(context.store().get("default", flow.provider)!.payload)?.includes(newest)).toBe(true);
      expect(r.stdout + r.stderr).not.toContain(host.prefix);
    }, 30_000);

    it(`${flow.provider}: two concurrent runs (processes) hit the token endpoint once and both get the new token`, async () => {
      const { server } = await expiredLogin(flow);
      const run = () => authctl(host.home, ["run", "--no-token", "--only", flow.provider, "--", ...PRINT_HASH(flow.variable)], { timeout: 60_000 });
      const [a, b] = await Promise.all([run(), run()]);
      expect([a.exitCode, b.exitCode, a.stderr + b.stderr]).toEqual([0, 0, ""]);
      expect(refreshes(server)).toBe(1);
      const newest = server.issued.filter((t) => t.includes("at")).at(-1)!;
      expect([a.stdout.trim(), b.stdout.trim()]).toEqual([sha(newest), sha(newest)]);
      expect(a.stdout + a.stderr + b.stdout + b.stderr).not.toContain(host.prefix);
    }, 60_000);
  }

  it("`authctl token` hands out the refreshed token too (the same refresh as run's)", async () => {
    const { server } = await expiredLogin(FLOWS[0]!);
    const r = await runInProcess(host.env(), ["token", "fakehub"]);
    expect(r.exitCode).toBe(0);
    expect(refreshes(server)).toBe(1);
    // The token is what `token` prints: compared by hash, so a failure shows none.
    expect(sha(r.stdout.trim())).toBe(sha(server.issued.filter((t) => t.includes("at")).at(-1)!));
  }, 30_000);

  it("a token that is not due is exported as stored, without asking the token endpoint", async () => {
    const server = await host.start(FLOWS[0]!.entry, { expiresIn: 3600 });
    {
      using context = host.context();
      await using session = await prepareHostLogin("fakehub", { context });
      await session.capture();
    }
    const r = await runInProcess(host.env(), ["run", "--no-token", "--only", "fakehub", "--", ...PRINT_HASH("FAKEHUB_TOKEN")]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(sha(server.issued.find((t) => t.includes("at"))!));
    expect(refreshes(server)).toBe(0);
  }, 30_000);
});
