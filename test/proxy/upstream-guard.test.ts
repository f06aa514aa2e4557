import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import type { ListeningProxy } from "../../src/proxy/server.js";
import { useDnsStub } from "../helpers/dns-stub.js";
import { canary } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { request } from "../helpers/http-reply.js";
import { type ProxySetup, useProxy } from "../helpers/proxyFixture.js";

/**
 * Issue 23 item 2: the proxy dials only the roster's upstream, checks the address it resolves to
 * (no loopback, private, link-local or metadata address for a named upstream), and connects to
 * exactly the address it checked. Names resolve through a real DNS server (a stub on loopback)
 * over the proxy's real resolution path; the fake upstream on 127.0.0.1 is where a request that
 * got past the guard would land.
 */
describe("the upstream guard", () => {
  const realKey = canary("sk-ant-");
  const dns = useDnsStub("upstream.test");

  /** A proxy dialling anthropic at `http://<host>:<the fake upstream's port>`, through the stub. */
  const guarded = (host: string, port: string): ProxySetup => ({
    // A connection to the public-looking address goes nowhere: bounded, so the test does not wait minutes.
    upstreamIdleMs: 1500,
    resolveUpstream: dns.resolve,
    upstreams: { anthropic: { api_key: { base_url: `http://${host}:${port}`, allow_paths: ["/v1"] } } },
  });
  const rig = useProxy("authctl-guard-", {
    upstream: () => fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}')),
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => guarded("loopback.upstream.test", new URL(upstream.url).port),
  });
  const { audit } = rig;
  const proxies: Record<string, ListeningProxy> = {};

  beforeAll(async () => {
    const port = new URL(rig.upstream.url).port;
    // The same home's proxies, one per upstream name: the roster override is per proxy.
    for (const name of ["private", "metadata", "rebind"]) proxies[name] = await rig.listen(guarded(`${name}.upstream.test`, port));
    proxies.local = await rig.listen({ upstreams: { anthropic: { api_key: { base_url: rig.upstream.url, allow_paths: ["/v1"] } } } });
  });

  const key = (session: string) => ({ "x-api-key": rig.phantom("anthropic", session) });

  it("positive control: an upstream the roster gives as a loopback address is dialled (the user's own choice)", async () => {
    const before = rig.upstream.arrivals.length;
    const r = await request(proxies.local!.url!, "/v1/models", key("g-local"));
    expect(r.status).toBe(200);
    expect(rig.upstream.arrivals.length).toBe(before + 1);
  });

  it("a named upstream resolving to loopback, a private network or the metadata address is refused with a 502 naming it; nothing is forwarded", async () => {
    for (const [url, address, name] of [
      [rig.url, "127.0.0.1", "loopback.upstream.test"],
      [proxies.private!.url!, "10.1.2.3", "private.upstream.test"],
      [proxies.metadata!.url!, "169.254.169.254", "metadata.upstream.test"],
    ] as const) {
      const before = rig.upstream.arrivals.length;
      const r = await request(url, "/v1/models", key(`g-${address}`));
      expect(r.status, String(r.body)).toBe(502);
      const body = JSON.parse(String(r.body)) as { error: { rule: string; message: string } };
      expect(body.error.rule).toBe("upstream_guard");
      expect(body.error.message).toContain(`${name} resolved to ${address}`);
      expect(r.body).not.toContain(realKey);
      expect(rig.upstream.arrivals.length).toBe(before);
      expect(dns.queries[name]).toBeGreaterThan(0);
      expect(audit.some((e) => e.rule === "upstream_guard" && e.sessionId === `g-${address}` && e.status === 502)).toBe(true);
    }
  });

  it("through the system resolver: this host's own name (127.0.0.1 in /etc/hosts) as the upstream is refused, nothing forwarded", async () => {
    const name = hostname();
    // The machines the tests run on map their name to loopback; the test depends on it, so it says so.
    expect((await lookup(name)).address, `${name} must resolve to 127.0.0.1 (/etc/hosts) for this test`).toBe("127.0.0.1");
    const own = await rig.listen({ upstreams: { anthropic: { api_key: { base_url: `http://${name}:${new URL(rig.upstream.url).port}`, allow_paths: ["/v1"] } } } });
    const before = rig.upstream.arrivals.length;
    const r = await request(own.url!, "/v1/models", key("g-own"));
    expect(rig.upstream.arrivals.length, "a request reached the loopback upstream").toBe(before);
    expect(r.status).toBe(502);
    expect(String(r.body)).toContain(`${name} resolved to 127.0.0.1`);
  });

  it("a rebinding name (public first, then 127.0.0.1) never reaches the loopback: the checked address is the one dialled, the next lookup is refused", async () => {
    const before = rig.upstream.arrivals.length;
    const first = await request(proxies.rebind!.url!, "/v1/models", key("g-rebind"));
    // Dialled 203.0.113.7, the address it checked (which answers nothing here): not a second lookup's 127.0.0.1.
    expect(first.status, String(first.body)).toBe(502);
    expect(dns.queries["rebind.upstream.test"]).toBe(1);
    const second = await request(proxies.rebind!.url!, "/v1/models", key("g-rebind-2"));
    expect(second.status).toBe(502);
    expect(String(second.body)).toContain("rebind.upstream.test resolved to 127.0.0.1");
    expect(rig.upstream.arrivals.length).toBe(before);
  });
});

/**
 * Issue 23 item 2, "fail closed": when the store or a refresh cannot answer, the request gets a 5xx
 * naming why, and nothing is forwarded without a decision.
 */
describe("the proxy fails closed", () => {
  const access = canary("claude-access-");
  const refresh = canary("claude-refresh-");
  const rig = useProxy("authctl-closed-", {
    upstream: () => fakeUpstream((_req, res) => res.writeHead(200).end("{}")),
    // Expired: the proxy must refresh first, and the refresh endpoint does not answer (nothing listens on port 9).
    seed: (store) =>
      store.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: access, refreshToken: refresh }, { preview: "…", expiresAt: new Date(Date.now() - 60_000) }),
    proxy: (upstream) => ({
      upstreams: { claude: { oauth: { base_url: upstream.url, allow_paths: ["/v1"], refresh: { token_url: "http://127.0.0.1:9/v1/oauth/token", client_id: "c" } } } },
    }),
  });

  it("a refresh that cannot answer: 502 naming the credential and why, nothing forwarded", async () => {
    const phantom = rig.phantom("claude", "closed-refresh");
    const r = await request(rig.url, "/v1/messages", { authorization: `Bearer ${phantom}` }, "{}");
    expect(r.status, String(r.body)).toBe(502);
    const body = JSON.parse(String(r.body)) as { error: { rule: string; message: string } };
    expect(body.error.rule).toBe("fail_closed");
    expect(body.error.message).toContain("default:claude could not be made ready");
    for (const secret of [access, refresh]) expect(String(r.body)).not.toContain(secret);
    expect(rig.upstream.arrivals).toEqual([]);
  });

  it("a store that cannot answer: 503 naming it, nothing forwarded", async () => {
    const phantom = rig.phantom("claude", "closed-store");
    rig.store.close();
    const r = await request(rig.url, "/v1/messages", { authorization: `Bearer ${phantom}` }, "{}");
    expect(r.status, String(r.body)).toBe(503);
    expect(String(r.body)).toContain("no decision could be made, so nothing was forwarded");
    expect(rig.upstream.arrivals).toEqual([]);
  });
});
