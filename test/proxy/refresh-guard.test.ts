import http from "node:http";
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { createCredentialProxy, type ProxyAuditEntry } from "../../src/proxy/proxy.js";
import type { ResolveUpstream } from "../../src/proxy/upstreamGuard.js";
import { listenProxy, type ListeningProxy } from "../../src/proxy/server.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { useDnsStub } from "../helpers/dns-stub.js";
import { canary, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { request } from "../helpers/http-reply.js";
import { listenLoopback, routeProvider } from "../helpers/proxyFixture.js";

/** A token endpoint on 127.0.0.1 that would rotate any login it is asked to: where a refresh past the guard lands. */
async function tokenEndpoint(access: string, refresh: string) {
  const arrivals: string[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      arrivals.push(body);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: access, refresh_token: refresh, expires_in: 3600 }));
    });
  });
  return { port: Number(new URL(await listenLoopback(server)).port), arrivals, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Issue 23 item 2, for the refresh: the proxy is the one refresher of container logins, and its
 * call to the roster's `refresh.token_url` carries the refresh token. That connection goes through
 * the same upstream guard as a forwarded request: a named token endpoint that resolves to a
 * loopback, private or metadata address is refused after resolution, a rebinding name is dialled
 * at the address that was checked, the request fails closed with a 5xx naming why, and nothing is
 * stored. Each case is its own home whose user roster (`$AUTHCTL_HOME/agents/claude.yaml`) names
 * the token endpoint; names resolve through the system resolver or a real DNS stub on loopback.
 */
describe("the refresh goes through the upstream guard", () => {
  const homes: Array<() => void> = [];
  const closers: Array<() => unknown> = [];
  const access = canary("claude-access-");
  const refresh = canary("claude-refresh-");
  const rotatedAccess = canary("claude-rotated-");
  const rotatedRefresh = canary("claude-rotated-refresh-");
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let tokens: Awaited<ReturnType<typeof tokenEndpoint>>;
  const dns = useDnsStub("token.test");

  beforeAll(async () => {
    upstream = await fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    tokens = await tokenEndpoint(rotatedAccess, rotatedRefresh);
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await upstream?.close();
    await tokens?.close();
    for (const cleanup of homes) cleanup();
  });

  /** A home whose user roster sends claude's refresh to `tokenHost`, an expired login in its store, and a proxy over it. */
  async function proxyWith(tokenHost: string, resolveUpstream?: ResolveUpstream) {
    const { home, cleanup } = tempHome("authctl-refresh-guard-");
    homes.push(cleanup);
    routeProvider(home, "claude", (entry) => {
      // The API itself stays on the loopback address the roster names (the user's own choice): only the token endpoint is named.
      entry.proxy.oauth!.base_url = upstream.url;
      entry.proxy.oauth!.refresh!.token_url = `http://${tokenHost}:${tokens.port}/v1/oauth/token`;
    });
    const env = { ...baseEnv(), AUTHCTL_HOME: home };
    const store = CredentialStore.open({ home, env });
    closers.push(() => store.close());
    const context = new Authctl({ env, store, home });
    store.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: access, refreshToken: refresh }, { preview: "…", expiresAt: new Date(Date.now() - 60_000) });
    const audit: ProxyAuditEntry[] = [];
    const proxy = createCredentialProxy({ context, onAudit: (e) => audit.push(e), ...(resolveUpstream ? { resolveUpstream } : {}) });
    const listening: ListeningProxy = await listenProxy(proxy, { port: 0 });
    closers.push(() => listening.close());
    const send = async (session: string) => {
      const phantom = mintPhantoms("claude", { context, sessionId: session }).accessToken;
      return request(listening.url!, "/v1/messages", { authorization: `Bearer ${phantom}` }, "{}");
    };
    const stored = () => (store.get("default", "claude")!.payload as { accessToken: string; refreshToken: string });
    return { send, stored, audit, context, url: listening.url! };
  }

  /** The request failed closed: a 5xx naming the refused address, nothing forwarded, no secret shown, the login untouched. */
  function expectRefused(reply: { status: number; body: Buffer }, name: string, address: string, stored: { accessToken: string; refreshToken: string }) {
    const text = String(reply.body);
    expect(reply.status, text).toBe(502);
    expect(JSON.parse(text).error.message).toContain(`${name} resolved to ${address}`);
    expect(text).toContain("refresh.token_url");
    for (const secret of [access, refresh, rotatedAccess, rotatedRefresh]) expect(text).not.toContain(secret);
    expect(stored).toEqual(expect.objectContaining({ accessToken: access, refreshToken: refresh }));
  }

  it("positive control: a token_url the user roster gives as a loopback address is dialled, the login rotated and the request forwarded", async () => {
    const p = await proxyWith("127.0.0.1");
    const before = tokens.arrivals.length;
    const r = await p.send("rg-local");
    expect(r.status, String(r.body)).toBe(200);
    expect(tokens.arrivals.length).toBe(before + 1);
    expect(p.stored().accessToken).toBe(rotatedAccess);
  });

  it("a token_url naming this host (the system resolver says 127.0.0.1) is refused: the refresh token never leaves, 502 naming why, nothing stored", async () => {
    const name = hostname();
    expect((await lookup(name)).address, `${name} must resolve to 127.0.0.1 (/etc/hosts) for this test`).toBe("127.0.0.1");
    const p = await proxyWith(name);
    const arrivals = tokens.arrivals.length;
    const forwarded = upstream.arrivals.length;
    const r = await p.send("rg-own");
    expect(tokens.arrivals.length, "the refresh token reached the token endpoint on loopback").toBe(arrivals);
    expect(upstream.arrivals.length).toBe(forwarded);
    expectRefused(r, name, "127.0.0.1", p.stored());
    expect(p.audit.some((e) => e.sessionId === "rg-own" && e.status === 502 && e.refused?.includes(`${name} resolved to 127.0.0.1`))).toBe(true);
  });

  it("a token_url resolving to loopback, a private network or the metadata address is refused after resolution, naming it; nothing stored", async () => {
    for (const [name, address] of [
      ["loopback.token.test", "127.0.0.1"],
      ["private.token.test", "10.1.2.3"],
      ["metadata.token.test", "169.254.169.254"],
    ] as const) {
      const p = await proxyWith(name, dns.resolve);
      const arrivals = tokens.arrivals.length;
      const r = await p.send(`rg-${address}`);
      expect(dns.queries[name] ?? 0, `${name} was never asked of the proxy's resolver`).toBeGreaterThan(0);
      expect(tokens.arrivals.length).toBe(arrivals);
      expectRefused(r, name, address, p.stored());
      expect(upstream.arrivals.every((a) => a.headers.authorization !== `Bearer ${access}`)).toBe(true);
    }
  });

  it("a rebinding token_url (public first, then 127.0.0.1) never reaches the loopback: the checked address is the one dialled, the next lookup is refused", async () => {
    const p = await proxyWith("rebind.token.test", dns.resolve);
    const arrivals = tokens.arrivals.length;
    const first = await p.send("rg-rebind");
    // Dialled 203.0.113.7, the address it checked (nothing answers there): not a second lookup's 127.0.0.1.
    expect(first.status, String(first.body)).toBe(502);
    expect(dns.queries["rebind.token.test"] ?? 0).toBe(1);
    expect(tokens.arrivals.length).toBe(arrivals);
    const second = await p.send("rg-rebind-2");
    expectRefused(second, "rebind.token.test", "127.0.0.1", p.stored());
    expect(tokens.arrivals.length).toBe(arrivals);
  });

  it("a client's own refresh call (the refresh phantom, as Codex sends it) fails closed too: 502 naming why, no phantoms, nothing stored", async () => {
    const p = await proxyWith("metadata.token.test", dns.resolve);
    const minted = mintPhantoms("claude", { context: p.context, sessionId: "rg-exchange" });
    const arrivals = tokens.arrivals.length;
    const r = await request(p.url, "/oauth/token", { "content-type": "application/json" }, JSON.stringify({ grant_type: "refresh_token", refresh_token: minted.refreshToken }));
    const text = String(r.body);
    expect(r.status, text).toBe(502);
    expect(text).toContain("metadata.token.test resolved to 169.254.169.254");
    expect(text).not.toContain("access_token");
    expect(tokens.arrivals.length).toBe(arrivals);
    expect(p.stored()).toEqual(expect.objectContaining({ accessToken: access, refreshToken: refresh }));
  });
});
