import { statSync } from "node:fs";
import http from "node:http";
import { dirname, join } from "node:path";
import { connect, type Socket } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { createCredentialProxy } from "../../src/proxy/proxy.js";
import { mintPhantoms, revokeSession } from "../../src/proxy/phantoms.js";
import { listenProxy } from "../../src/proxy/server.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { canary } from "../helpers/env.js";
import { type FakeHandler, fakeUpstream, sse, wsFrame } from "../helpers/fake-upstream.js";
import { type Reply, request } from "../helpers/http-reply.js";
import { useProxy } from "../helpers/proxyFixture.js";

const now = { t: Date.parse("2026-11-23T12:00:00Z") };
const clock = { now: () => now.t };

describe("credential proxy (library, against a local fake upstream)", () => {
  const realKey = canary("sk-ant-");
  const realAccess = canary("access-");
  const realRefresh = canary("refresh-");
  const rotatedAccess = canary("rotated-access-");
  const rotatedRefresh = canary("rotated-refresh-");
  let refreshCalls = 0;
  let currentAccess = realAccess;
  /** The vendor: its token endpoint rotates the login once (slowly), its API takes the current access token. */
  const vendor: FakeHandler = (req, res, body) => {
    if (req.url === "/oauth/token") {
      refreshCalls++;
      const sent = JSON.parse(body.toString()) as { refresh_token: string; client_id: string };
      if (sent.refresh_token !== realRefresh) return void res.writeHead(400).end(JSON.stringify({ error: "refresh_token_reused" }));
      // Slow, so concurrent requests all reach the proxy while the refresh is in flight.
      setTimeout(() => {
        currentAccess = rotatedAccess;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ access_token: rotatedAccess, refresh_token: rotatedRefresh, expires_in: 3600 }));
      }, 150);
      return;
    }
    const auth = req.headers.authorization;
    if (auth !== undefined && auth !== `Bearer ${currentAccess}`) return void res.writeHead(401).end("{}");
    if (req.url === "/v1/stream") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(sse("first", { at: Date.now() }));
      setTimeout(() => res.end(sse("second", { at: Date.now() })), 400);
      return;
    }
    if (req.url === "/v1/gzip") {
      const zipped = gzipSync(Buffer.from("hello ".repeat(1000)));
      res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain", "content-length": zipped.length });
      return void res.end(zipped);
    }
    if (req.url === "/v1/redirect") return void res.writeHead(302, { location: "https://elsewhere.example/steal" }).end();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: true, bytes: body.length }));
  };
  const rig = useProxy("authctl-proxy-", {
    clock,
    upstream: () => fakeUpstream(vendor, { acceptWebSocket: true }),
    seed: (store) => {
      store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" });
      const files = { ".credentials.json": JSON.stringify({ claudeAiOauth: { accessToken: realAccess, refreshToken: realRefresh, expiresAt: now.t + 3_600_000 } }) };
      store.put("work", "claude", "oauth", { type: "oauth", provider: "claude", files, accessToken: realAccess, refreshToken: realRefresh }, {
        preview: "…",
        expiresAt: new Date(now.t + 3_600_000),
      });
    },
    proxy: (upstream) => ({
      maxRequestBytes: 1024 * 1024,
      upstreams: {
        anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], websocket: true } },
        claude: { oauth: { base_url: upstream.url, allow_paths: ["/v1"], refresh: { token_url: `${upstream.url}/oauth/token`, client_id: "test-client" } } },
      },
    }),
  });
  const { audit } = rig;

  const fresh = () => rig.upstream.arrivals.splice(0);
  const leaked = (what: string) => JSON.stringify(rig.upstream.arrivals).includes(what);

  it("swaps an API-key phantom for the real key: the upstream sees the key, the client only the phantom", async () => {
    fresh();
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-1" });
    const reply = await request(rig.url, "/v1/messages", { "x-api-key": accessToken, "content-type": "application/json" }, '{"m":1}');
    expect(reply.status).toBe(200);
    const [arrival] = fresh();
    expect(arrival!.headers["x-api-key"]).toBe(realKey);
    expect(JSON.stringify(arrival)).not.toContain(accessToken);
    expect(arrival!.body.toString()).toBe('{"m":1}');
    expect(reply.body.toString()).not.toContain(realKey);
    expect(JSON.stringify(reply.headers)).not.toContain(realKey);
    expect(audit.at(-1)).toMatchObject({ provider: "anthropic", sessionId: "box-1", path: "/v1/messages", status: 200 });
    expect(JSON.stringify(audit)).not.toContain(accessToken);
  });

  it("takes a phantom in gh's `Authorization: token …` too, and sends only the real credential upstream", async () => {
    fresh();
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-gh-scheme" });
    const reply = await request(rig.url, "/v1/messages", { authorization: `token ${accessToken}` }, "{}");
    expect(reply.status).toBe(200);
    const [arrival] = fresh();
    expect(arrival!.headers["x-api-key"]).toBe(realKey);
    expect(arrival!.headers.authorization).toBeUndefined();
    expect((await request(rig.url, "/v1/messages", { authorization: `token ${accessToken}x` }, "{}")).status).toBe(401);
  });

  it("answers an unknown, revoked or expired phantom with 401 and forwards nothing", async () => {
    fresh();
    const unknown = await request(rig.url, "/v1/messages", { "x-api-key": "authctl-phantom-made-up" });
    const missing = await request(rig.url, "/v1/messages", {});
    const session = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-2" });
    expect(revokeSession("box-2", { context: rig.context })).toBe(2);
    const revoked = await request(rig.url, "/v1/messages", { "x-api-key": session.accessToken });
    const short = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-3", ttlMs: 1000 });
    now.t += 2000;
    const expired = await request(rig.url, "/v1/messages", { "x-api-key": short.accessToken });
    expect([unknown.status, missing.status, revoked.status, expired.status]).toEqual([401, 401, 401, 401]);
    expect(rig.upstream.arrivals).toEqual([]);
  });

  it("stores phantoms only as hashes", () => {
    const { accessToken, refreshToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-hash" });
    const rows = rig.store.exclusive((tx) => tx.all("SELECT * FROM phantom_tokens WHERE session_id = 'box-hash'"));
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain(accessToken);
    expect(JSON.stringify(rows)).not.toContain(refreshToken);
  });

  it("refuses paths outside the allow-list, traversal, absolute-form targets; ignores a hostile Host header", async () => {
    fresh();
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-4" });
    const h = { "x-api-key": accessToken };
    expect((await request(rig.url, "/admin/keys", h)).status).toBe(403);
    expect((await request(rig.url, "/v1/../admin", h)).status).toBe(403);
    expect((await request(rig.url, "/v1/%2e%2e/admin", h)).status).toBe(403);
    expect((await request(rig.url, "/v1//evil", h)).status).toBe(403);
    // a phantom for one provider cannot reach another provider's API paths
    expect((await request(rig.url, "/backend-api/codex/responses", h)).status).toBe(403);
    expect(rig.upstream.arrivals).toEqual([]);
    const hostile = await request(rig.url, "/v1/messages", { ...h, host: "evil.example" }, "{}");
    expect(hostile.status).toBe(200);
    expect(fresh()[0]!.headers.host).toBe(new URL(rig.upstream.url).host);
  });

  it("passes a redirect back without following it", async () => {
    fresh();
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-5" });
    const reply = await request(rig.url, "/v1/redirect", { "x-api-key": accessToken }, undefined, "GET");
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe("https://elsewhere.example/steal");
    expect(fresh()).toHaveLength(1);
  });

  it("streams SSE event by event, and decodes a gzip body the upstream sent though asked for identity", async () => {
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-6" });
    const times: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${rig.url}/v1/stream`, { method: "POST", headers: { "x-api-key": accessToken } }, (res) => {
        res.on("data", () => times.push(Date.now()));
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(300);

    const direct = await request(rig.upstream.url, "/v1/gzip", {}, undefined, "GET");
    const viaProxy = await request(rig.url, "/v1/gzip", { "x-api-key": accessToken, "accept-encoding": "gzip" }, undefined, "GET");
    // The proxy reads every byte it returns (to scrub the real secret): it asks for identity and decodes what it still gets.
    expect(viaProxy.headers["content-encoding"]).toBeUndefined();
    expect(viaProxy.body.equals(gunzipSync(direct.body))).toBe(true);
    expect(rig.upstream.arrivals.at(-1)!.headers["accept-encoding"]).toBe("identity");
  });

  it("refuses a body over the limit with 413 and keeps serving others", async () => {
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-7" });
    const big = await request(rig.url, "/v1/messages", { "x-api-key": accessToken }, Buffer.alloc(3 * 1024 * 1024)).catch(() => ({ status: 413 }) as Reply);
    expect(big.status).toBe(413);
    const ok = await request(rig.url, "/v1/messages", { "x-api-key": accessToken }, "{}");
    expect(ok.status).toBe(200);
  });

  it("bridges a WebSocket upgrade with the real credential", async () => {
    fresh();
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-8" });
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${rig.url}/v1/ws`, {
        headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", "x-api-key": accessToken },
      });
      req.on("upgrade", (res, socket: Socket) => {
        expect(res.statusCode).toBe(101);
        expect(res.headers["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          resolve(d.subarray(2).toString());
        });
        socket.write(wsFrame("ping-through-bridge"));
      });
      req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on("error", reject);
      req.end();
    });
    expect(echoed).toBe("ping-through-bridge");
    const [arrival] = fresh();
    expect(arrival!.upgrade).toBe(true);
    expect(arrival!.headers["x-api-key"]).toBe(realKey);
    expect(arrival!.headers.upgrade).toBe("websocket");
  });

  it("refreshes once for 8 concurrent 401s, stores the rotated pair, and retries each request once", async () => {
    fresh();
    refreshCalls = 0;
    // The upstream now rejects the stored token (revoked server-side before its expiry).
    currentAccess = canary("not-the-stored-token-");
    const { accessToken } = mintPhantoms("claude", { context: rig.context, sessionId: "box-9", credentialSet: "work" });
    // The fake accepts rotatedAccess once the refresh ran (it sets currentAccess), so the retries pass.
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => request(rig.url, "/v1/messages", { authorization: `Bearer ${accessToken}` }, `{"n":${i}}`)),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(refreshCalls).toBe(1);
    expect(rig.proxy.refresher.refreshCalls).toBe(1);
    const saved = rig.store.get<{ accessToken: string; refreshToken: string; files: Record<string, string> }>("work", "claude")!;
    expect(saved.payload.accessToken).toBe(rotatedAccess);
    expect(saved.payload.refreshToken).toBe(rotatedRefresh);
    expect(saved.payload.files[".credentials.json"]).toContain(rotatedRefresh);
    expect(saved.payload.files[".credentials.json"]).not.toContain(realRefresh);
    const arrivals = fresh();
    const refreshes = arrivals.filter((a) => a.url === "/oauth/token");
    expect(JSON.parse(refreshes[0]!.body.toString())).toMatchObject({ grant_type: "refresh_token", client_id: "test-client", refresh_token: realRefresh });
    const retried = arrivals.filter((a) => a.url === "/v1/messages" && a.headers.authorization === `Bearer ${rotatedAccess}`);
    expect(retried.map((a) => JSON.parse(a.body.toString()).n).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(leaked(accessToken)).toBe(false);
    for (const r of replies) expect(r.body.toString()).not.toContain(rotatedAccess);
  });

  it("exchanges a client's refresh phantom for new phantoms (Codex's refresh override), single-use", async () => {
    fresh();
    const first = mintPhantoms("claude", { context: rig.context, sessionId: "box-10", credentialSet: "work" });
    const body = JSON.stringify({ grant_type: "refresh_token", client_id: "app_x", refresh_token: first.refreshToken });
    const reply = await request(rig.url, "/oauth/token", { "content-type": "application/json" }, body);
    expect(reply.status).toBe(200);
    const tokens = JSON.parse(reply.body.toString()) as { access_token: string; refresh_token: string };
    expect(tokens.access_token).toMatch(/^authctl-phantom-/);
    expect(reply.body.toString()).not.toContain(rotatedAccess);
    const used = await request(rig.url, "/v1/messages", { authorization: `Bearer ${tokens.access_token}` }, "{}");
    expect(used.status).toBe(200);
    const again = await request(rig.url, "/oauth/token", { "content-type": "application/json" }, body);
    expect(again.status).toBe(401);
    expect(fresh().filter((a) => a.url === "/oauth/token")).toEqual([]);
  });

  it("refreshes before expires_at without waiting for a 401", async () => {
    fresh();
    refreshCalls = 0;
    // Put back a pair the fake accepts for refresh, expiring within the skew.
    rig.store.put("work", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: "stale-unused", refreshToken: realRefresh }, {
      preview: "…",
      expiresAt: new Date(now.t + 30_000),
    });
    const { accessToken } = mintPhantoms("claude", { context: rig.context, sessionId: "box-11", credentialSet: "work" });
    const reply = await request(rig.url, "/v1/messages", { authorization: `Bearer ${accessToken}` }, "{}");
    expect(reply.status).toBe(200);
    expect(refreshCalls).toBe(1);
    const arrivals = fresh();
    expect(arrivals.map((a) => a.url)).toEqual(["/oauth/token", "/v1/messages"]);
    expect(rig.store.info("work", "claude")!.expiresAt!.getTime()).toBe(now.t + 3_600_000);
  });

  it("serves on a 0600 Unix socket too", async () => {
    const socketPath = join(dirname(rig.store.path), "proxy.sock");
    const onSocket = await listenProxy(rig.proxy, { socketPath });
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-sock" });
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ socketPath, path: "/v1/messages", method: "POST", headers: { "x-api-key": accessToken } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.end("{}");
      });
      expect(status).toBe(200);
    } finally {
      await onSocket.close();
    }
  });

  it("cuts off a slowloris client that never finishes its headers, and keeps serving others", async () => {
    const strict = await listenProxy(rig.proxy, { port: 0, headersTimeoutMs: 500 });
    try {
      const { port } = new URL(strict.url!);
      const slow = connect(Number(port), "127.0.0.1");
      slow.on("error", () => {}); // EPIPE once the proxy cuts it off: expected
      const closed = new Promise<number>((resolve) => slow.on("close", () => resolve(Date.now())));
      const started = Date.now();
      slow.write("POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-slow: ");
      const timer = setInterval(() => slow.writable && slow.write("a"), 100);
      const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-slow" });
      expect((await request(strict.url!, "/v1/messages", { "x-api-key": accessToken }, "{}")).status).toBe(200);
      const at = await closed;
      clearInterval(timer);
      expect(at - started).toBeLessThan(5000);
    } finally {
      await strict.close();
    }
  });

  it("two proxies (two stores on one home, as two processes) refresh a login once: the lease makes the second re-read the rotated row", async () => {
    refreshCalls = 0;
    rig.store.put("work", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: "stale-again", refreshToken: realRefresh }, {
      preview: "…",
      expiresAt: new Date(now.t + 10_000),
    });
    const otherStore = CredentialStore.open({ home: dirname(rig.store.path), env: baseEnv(), clock });
    try {
      const other = createCredentialProxy({ context: new Authctl({ env: baseEnv(), store: otherStore, clock }) });
      const config = { token_url: `${rig.upstream.url}/oauth/token`, client_id: "test-client" };
      const [a, b] = await Promise.all([
        rig.proxy.refresher.fresh("work", "claude", config),
        other.refresher.fresh("work", "claude", config),
      ]);
      expect(refreshCalls).toBe(1);
      expect(a.payload.accessToken).toBe(rotatedAccess);
      expect(b.payload.accessToken).toBe(rotatedAccess);
    } finally {
      otherStore.close();
    }
  });
});
