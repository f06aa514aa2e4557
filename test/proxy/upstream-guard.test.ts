import { lookup, Resolver } from "node:dns/promises";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { createCredentialProxy, type ProxyAuditEntry } from "../../src/proxy/proxy.js";
import { listenProxy, type ListeningProxy } from "../../src/proxy/server.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { dnsStub } from "../helpers/dns-stub.js";
import { canary, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { request } from "../helpers/http-reply.js";

/**
 * Issue 23 item 2: the proxy dials only the roster's upstream, checks the address it resolves to
 * (no loopback, private, link-local or metadata address for a named upstream), and connects to
 * exactly the address it checked. Names resolve through a real DNS server (a stub on loopback)
 * over the proxy's real resolution path; the fake upstream on 127.0.0.1 is where a request that
 * got past the guard would land.
 */
describe("the upstream guard", () => {
  const { home, cleanup } = tempHome("authctl-guard-");
  const realKey = canary("sk-ant-");
  let store: CredentialStore;
  let context: Authctl;
  let listening: ListeningProxy;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let dns: Awaited<ReturnType<typeof dnsStub>>;
  const audit: ProxyAuditEntry[] = [];
  const proxies: Record<string, ListeningProxy> = {};

  beforeAll(async () => {
    upstream = await fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    dns = await dnsStub({
      "loopback.upstream.test": () => "127.0.0.1",
      "private.upstream.test": () => "10.1.2.3",
      "metadata.upstream.test": () => "169.254.169.254",
      // Public-looking (TEST-NET-3) the first time, this host's loopback from then on.
      "rebind.upstream.test": (n) => (n === 1 ? "203.0.113.7" : "127.0.0.1"),
    });
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([dns.address]);
    store = CredentialStore.open({ home, env: baseEnv() });
    context = new Authctl({ env: baseEnv(), store });
    store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" });
    const port = new URL(upstream.url).port;
    const proxy = createCredentialProxy({
      context,
      // A connection to the public-looking address goes nowhere: bounded, so the test does not wait minutes.
      upstreamIdleMs: 1500,
      resolveUpstream: async (hostname) => (await resolver.resolve4(hostname)).map((address) => ({ address, family: 4 })),
      onAudit: (entry) => audit.push(entry),
      upstreams: { anthropic: { api_key: { base_url: `http://loopback.upstream.test:${port}`, allow_paths: ["/v1"] } } },
    });
    listening = await listenProxy(proxy, { port: 0 });
    // The same home's proxies, one per upstream name: the roster override is per proxy.
    for (const name of ["private", "metadata", "rebind"]) {
      const other = createCredentialProxy({
        context,
        upstreamIdleMs: 1500,
        resolveUpstream: async (hostname) => (await resolver.resolve4(hostname)).map((address) => ({ address, family: 4 })),
        onAudit: (entry) => audit.push(entry),
        upstreams: { anthropic: { api_key: { base_url: `http://${name}.upstream.test:${port}`, allow_paths: ["/v1"] } } },
      });
      proxies[name] = await listenProxy(other, { port: 0 });
    }
    const local = createCredentialProxy({ context, upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"] } } } });
    proxies.local = await listenProxy(local, { port: 0 });
  });

  afterAll(async () => {
    await listening?.close();
    for (const p of Object.values(proxies)) await p.close();
    await upstream?.close();
    dns?.close();
    store?.close();
    cleanup();
  });

  const key = (session: string) => ({ "x-api-key": mintPhantoms("anthropic", { context, sessionId: session }).accessToken });

  it("positive control: an upstream the roster gives as a loopback address is dialled (the user's own choice)", async () => {
    const before = upstream.arrivals.length;
    const r = await request(proxies.local!.url!, "/v1/models", key("g-local"));
    expect(r.status).toBe(200);
    expect(upstream.arrivals.length).toBe(before + 1);
  });

  it("a named upstream resolving to loopback, a private network or the metadata address is refused with a 502 naming it; nothing is forwarded", async () => {
    for (const [url, address, name] of [
      [listening.url!, "127.0.0.1", "loopback.upstream.test"],
      [proxies.private!.url!, "10.1.2.3", "private.upstream.test"],
      [proxies.metadata!.url!, "169.254.169.254", "metadata.upstream.test"],
    ] as const) {
      const before = upstream.arrivals.length;
      const r = await request(url, "/v1/models", key(`g-${address}`));
      expect(r.status, String(r.body)).toBe(502);
      const body = JSON.parse(String(r.body)) as { error: { rule: string; message: string } };
      expect(body.error.rule).toBe("upstream_guard");
      expect(body.error.message).toContain(`${name} resolved to ${address}`);
      expect(r.body).not.toContain(realKey);
      expect(upstream.arrivals.length).toBe(before);
      expect(dns.queries[name]).toBeGreaterThan(0);
      expect(audit.some((e) => e.rule === "upstream_guard" && e.sessionId === `g-${address}` && e.status === 502)).toBe(true);
    }
  });

  it("through the system resolver: this host's own name (127.0.0.1 in /etc/hosts) as the upstream is refused, nothing forwarded", async () => {
    const name = hostname();
    // The machines the tests run on map their name to loopback; the test depends on it, so it says so.
    expect((await lookup(name)).address, `${name} must resolve to 127.0.0.1 (/etc/hosts) for this test`).toBe("127.0.0.1");
    const proxy = createCredentialProxy({
      context,
      onAudit: (entry) => audit.push(entry),
      upstreams: { anthropic: { api_key: { base_url: `http://${name}:${new URL(upstream.url).port}`, allow_paths: ["/v1"] } } },
    });
    const own = (proxies.own = await listenProxy(proxy, { port: 0 }));
    const before = upstream.arrivals.length;
    const r = await request(own.url!, "/v1/models", key("g-own"));
    expect(upstream.arrivals.length, "a request reached the loopback upstream").toBe(before);
    expect(r.status).toBe(502);
    expect(String(r.body)).toContain(`${name} resolved to 127.0.0.1`);
  });

  it("a rebinding name (public first, then 127.0.0.1) never reaches the loopback: the checked address is the one dialled, the next lookup is refused", async () => {
    const before = upstream.arrivals.length;
    const first = await request(proxies.rebind!.url!, "/v1/models", key("g-rebind"));
    // Dialled 203.0.113.7, the address it checked (which answers nothing here): not a second lookup's 127.0.0.1.
    expect(first.status, String(first.body)).toBe(502);
    expect(dns.queries["rebind.upstream.test"]).toBe(1);
    const second = await request(proxies.rebind!.url!, "/v1/models", key("g-rebind-2"));
    expect(second.status).toBe(502);
    expect(String(second.body)).toContain("rebind.upstream.test resolved to 127.0.0.1");
    expect(upstream.arrivals.length).toBe(before);
  });
});

/**
 * Issue 23 item 2, "fail closed": when the store or a refresh cannot answer, the request gets a 5xx
 * naming why, and nothing is forwarded without a decision.
 */
describe("the proxy fails closed", () => {
  const { home, cleanup } = tempHome("authctl-closed-");
  const access = canary("claude-access-");
  const refresh = canary("claude-refresh-");
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let store: CredentialStore;
  let context: Authctl;
  let listening: ListeningProxy;

  beforeAll(async () => {
    upstream = await fakeUpstream((_req, res) => res.writeHead(200).end("{}"));
    store = CredentialStore.open({ home, env: baseEnv() });
    context = new Authctl({ env: baseEnv(), store });
    // Expired: the proxy must refresh first, and the refresh endpoint does not answer (nothing listens on port 9).
    store.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: access, refreshToken: refresh }, { preview: "…", expiresAt: new Date(Date.now() - 60_000) });
    const proxy = createCredentialProxy({
      context,
      upstreams: { claude: { oauth: { base_url: upstream.url, allow_paths: ["/v1"], refresh: { token_url: "http://127.0.0.1:9/v1/oauth/token", client_id: "c" } } } },
    });
    listening = await listenProxy(proxy, { port: 0 });
  });

  afterAll(async () => {
    await listening?.close();
    await upstream?.close();
    store?.close();
    cleanup();
  });

  it("a refresh that cannot answer: 502 naming the credential and why, nothing forwarded", async () => {
    const phantom = mintPhantoms("claude", { context, sessionId: "closed-refresh" }).accessToken;
    const r = await request(listening.url!, "/v1/messages", { authorization: `Bearer ${phantom}` }, "{}");
    expect(r.status, String(r.body)).toBe(502);
    const body = JSON.parse(String(r.body)) as { error: { rule: string; message: string } };
    expect(body.error.rule).toBe("fail_closed");
    expect(body.error.message).toContain("default:claude could not be made ready");
    for (const secret of [access, refresh]) expect(String(r.body)).not.toContain(secret);
    expect(upstream.arrivals).toEqual([]);
  });

  it("a store that cannot answer: 503 naming it, nothing forwarded", async () => {
    const phantom = mintPhantoms("claude", { context, sessionId: "closed-store" }).accessToken;
    store.close();
    const r = await request(listening.url!, "/v1/messages", { authorization: `Bearer ${phantom}` }, "{}");
    expect(r.status, String(r.body)).toBe(503);
    expect(String(r.body)).toContain("no decision could be made, so nothing was forwarded");
    expect(upstream.arrivals).toEqual([]);
  });
});
