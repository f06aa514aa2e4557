import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { freshCredential } from "../../src/access/fresh.js";
import { Authctl } from "../../src/context.js";
import type { ResolveHost } from "../../src/core/netGuard.js";
import { prepareHostLogin } from "../../src/logins/authenticator.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { createCredentialProxy } from "../../src/proxy/proxy.js";
import { listenProxy } from "../../src/proxy/server.js";
import { useDnsStub } from "../helpers/dns-stub.js";
import type { FakeIdentityServer } from "../helpers/fake-identity.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { googleAt, msgraphAt, oauth2At, useHostLoginFixture, writeUserRoster } from "../helpers/host-roster.js";
import { request } from "../helpers/http-reply.js";

type Kind = "fakehub" | "google" | "msgraph" | "github-oauth";

/** Each host-login library's roster entry with its token endpoint on `host` (the fake server's port kept), and the field that names it. */
const KINDS: Record<Kind, { entry: (server: FakeIdentityServer, host: string) => { name: string } & Record<string, unknown>; field: string }> = {
  fakehub: { entry: (s, host) => oauth2At(s.base.replace("127.0.0.1", host), "oauth2_pkce"), field: "host_flow.token_endpoint" },
  // The same generic OAuth 2.0 login under a name the proxy routes (retry-401.test.ts does the same).
  "github-oauth": { entry: (s, host) => oauth2At(s.base.replace("127.0.0.1", host), "oauth2_pkce", "github-oauth"), field: "host_flow.token_endpoint" },
  google: { entry: (s, host) => googleAt(s.base.replace("127.0.0.1", host)), field: "host_flow.token_endpoint" },
  msgraph: {
    entry: (s, host) => msgraphAt(Object.fromEntries(Object.entries(s.msalMetadata()).map(([k, v]) => [k, v.replace("127.0.0.1", host)]))),
    field: "host_flow.authority_metadata.token_endpoint",
  },
};

/** Two hours on: every login these tests store (one-second tokens) is due for a refresh. */
const later = { now: () => Date.now() + 2 * 3600_000 };

/**
 * Issue 23 item 2, for host logins: openid-client (generic OAuth 2.0), MSAL and google-auth-library
 * refresh a stored login on demand (`freshCredential`, what the proxy, `run` and `token` call), and
 * that call carries the refresh token to the roster's token endpoint. It goes through the same
 * guard as the proxy's upstreams: a named endpoint that resolves to a loopback, private or
 * metadata address is refused after resolution, a rebinding name is dialled at the address that
 * was checked, and nothing is stored. Each login is made for real against a fake identity server
 * on 127.0.0.1 (a local address the roster gives is allowed), then the roster is pointed at a name
 * for the same port: names resolve through the system resolver or a real DNS stub on loopback,
 * handed in through the context.
 */
describe("host logins dial their token endpoints through the upstream guard", () => {
  const host = useHostLoginFixture("tg");
  const dns = useDnsStub("idp.test");

  /** A real login of `kind` against a fresh fake server, then the roster pointed at `tokenHost`; the context refreshing it. */
  async function loggedIn(kind: Kind, tokenHost: string, resolveHost?: ResolveHost) {
    const server = await host.start((s) => KINDS[kind].entry(s, "127.0.0.1"), { expiresIn: 1 });
    {
      using context = host.context();
      await using session = await prepareHostLogin(kind, { context });
      const captured = session.capture();
      if (session.prompt.kind === "auth_url") await fetch(session.prompt.authUrl);
      await captured;
    }
    writeUserRoster(host.home, KINDS[kind].entry(server, tokenHost));
    const context = new Authctl({ env: host.env(), home: host.home, clock: later, ...(resolveHost ? { resolveHost } : {}) });
    const stored = () => JSON.stringify(context.store().get("default", kind)!.payload);
    return { server, context, stored, before: stored(), refreshes: () => server.grants.filter((g) => g.grant_type === "refresh_token").length };
  }

  /** The refresh was refused before anything was sent: the error names the provider, the address, the roster field and the fix; nothing stored. */
  async function expectRefused(kind: Kind, login: Awaited<ReturnType<typeof loggedIn>>, name: string, address: string) {
    const error = (await freshCredential(login.context, "default", kind).then(
      () => undefined,
      (e: unknown) => e as Error,
    )) as Error | undefined;
    expect(login.refreshes(), `the refresh token of ${kind} reached the token endpoint through ${name}`).toBe(0);
    expect(error?.message).toContain(`${name} resolved to ${address}`);
    expect(error!.message).toContain(kind);
    expect(error!.message).toContain(KINDS[kind].field);
    expect(error!.message).toContain("give its address (or localhost)");
    expect(error!.message).not.toContain(host.prefix);
    expect(login.stored()).toBe(login.before);
  }

  for (const kind of ["fakehub", "google", "msgraph"] as const) {
    it(`${kind}: positive control: a token endpoint the roster gives as 127.0.0.1 is dialled and the login refreshed`, async () => {
      const login = await loggedIn(kind, "127.0.0.1", dns.resolve);
      const row = await freshCredential(login.context, "default", kind);
      expect(login.refreshes()).toBe(1);
      expect(JSON.stringify(row!.payload)).not.toBe(login.before);
      login.context.close();
    });

    it(`${kind}: a token endpoint naming this host (the system resolver says 127.0.0.1) is refused; the refresh token never leaves`, async () => {
      const name = hostname();
      expect((await lookup(name)).address, `${name} must resolve to 127.0.0.1 (/etc/hosts) for this test`).toBe("127.0.0.1");
      const login = await loggedIn(kind, name);
      await expectRefused(kind, login, name, "127.0.0.1");
      login.context.close();
    });

    it(`${kind}: a token endpoint resolving to loopback, a private network or the metadata address is refused after resolution`, async () => {
      for (const [name, address] of [
        ["loopback.idp.test", "127.0.0.1"],
        ["private.idp.test", "10.1.2.3"],
        ["metadata.idp.test", "169.254.169.254"],
      ] as const) {
        const asked = dns.queries[name] ?? 0;
        const login = await loggedIn(kind, name, dns.resolve);
        await expectRefused(kind, login, name, address);
        expect(dns.queries[name] ?? 0, `${name} was never asked of the context's resolver`).toBeGreaterThan(asked);
        login.context.close();
      }
    });
  }

  it("a rebinding token endpoint (public first, then 127.0.0.1) never reaches the loopback: the checked address is the one dialled, the next lookup is refused", async () => {
    const login = await loggedIn("fakehub", "rebind.idp.test", dns.resolve);
    // Dialled 203.0.113.7, the address it checked (nothing answers there): not a second lookup's 127.0.0.1.
    const first = await freshCredential(login.context, "default", "fakehub").then(() => undefined, (e: unknown) => e as Error);
    expect(first, "the refresh through a public address that answers nothing must fail").toBeInstanceOf(Error);
    expect(dns.queries["rebind.idp.test"]).toBe(1);
    expect(login.refreshes()).toBe(0);
    await expectRefused("fakehub", login, "rebind.idp.test", "127.0.0.1");
    login.context.close();
  });

  it("the proxy path: an expired host login whose token endpoint names this host fails closed; nothing reaches the token endpoint or the upstream", async () => {
    const name = hostname();
    const login = await loggedIn("github-oauth", name);
    const upstream = await fakeUpstream((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    const proxy = createCredentialProxy({ context: login.context, upstreams: { "github-oauth": { oauth: { base_url: upstream.url, allow_paths: ["/v1"], header: "authorization" } } } });
    const listening = await listenProxy(proxy, { port: 0 });
    try {
      const { accessToken } = mintPhantoms("github-oauth", { context: login.context, sessionId: "token-guard" });
      const reply = await request(listening.url!, "/v1/items", { authorization: `Bearer ${accessToken}` });
      const text = reply.body.toString();
      expect(reply.status, text).toBeGreaterThanOrEqual(500);
      expect(login.refreshes(), "the refresh token reached the token endpoint").toBe(0);
      expect(text).toContain(`${name} resolved to 127.0.0.1`);
      expect(text).not.toContain(host.prefix);
      expect(upstream.arrivals).toHaveLength(0);
      expect(login.stored()).toBe(login.before);
    } finally {
      await listening.close();
      await upstream.close();
      login.context.close();
    }
  });
});
