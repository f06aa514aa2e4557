import http from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createCredentialProxy } from "../../src/proxy/proxy.js";
import { listenProxy } from "../../src/proxy/server.js";
import { canary } from "../helpers/env.js";
import { type FakeHandler, fakeUpstream, wsFrame } from "../helpers/fake-upstream.js";
import { request } from "../helpers/http-reply.js";
import { useProxy } from "../helpers/proxyFixture.js";

/** Sends a request on a raw socket (the path exactly as written) and reads the status line and the whole answer. */
function raw(port: number, lines: string[]): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    // Not end(): a half-closed client may lose the answer of a forwarded request.
    socket.write(`${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`);
  });
}

const WS_HEADERS = { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };

/** Opens an upgrade through the proxy; resolves with the upgraded socket, or the status of a refusal. */
function upgrade(base: string, path: string, headers: Record<string, string>): Promise<{ socket?: Socket; head?: Buffer; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { headers, agent: false });
    req.on("upgrade", (res, socket: Socket, head: Buffer) => resolve({ socket, head, status: res.statusCode!, body: "" }));
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Issue 18, findings 6 and 7 (and 8's idle upgrades and per-session bound): the proxy refuses
 * methods, upgrade protocols and paths it was not told to allow, and nothing it returns carries
 * the real credential, whatever the upstream echoes.
 */
describe("the credential proxy refuses what it should", () => {
  const realKey = canary("sk-ant-");
  const openaiKey = canary("sk-proj-");
  const held: Array<() => void> = [];
  const vendor: FakeHandler = (req, res) => {
    const sent = String(req.headers["x-api-key"] ?? req.headers.authorization ?? "").replace(/^Bearer /, "");
    const echo = JSON.stringify({ method: req.method, headers: req.headers });
    const path = (req.url ?? "").split("?")[0];
    if (path === "/v1/echo") return void res.writeHead(200, { "content-type": "application/json", "x-echo": sent, [`x-${sent.toLowerCase()}`]: "1" }).end(echo);
    if (path === "/v1/echo-split") {
      // The secret arrives cut in two writes, seconds' worth of event-loop turns apart.
      const at = echo.indexOf(sent) + Math.floor(sent.length / 2);
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(echo.slice(0, at));
      return void setTimeout(() => res.end(echo.slice(at)), 100);
    }
    if (path === "/v1/echo-gzip") return void res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync(echo));
    if (path === "/v1/echo-br") return void res.writeHead(200, { "content-encoding": "br" }).end(brotliCompressSync(echo));
    if (path === "/v1/echo-zstd") return void res.writeHead(200, { "content-encoding": "zstd" }).end(Buffer.from(echo));
    if (path === "/v1/slow") return void held.push(() => res.writeHead(200).end("{}"));
    if (path === "/v1/head") return void res.writeHead(200, { "content-length": 1234, "x-echo": sent }).end();
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  };
  const rig = useProxy("authctl-proxy-refuse-", {
    upstream: () => fakeUpstream(vendor, { acceptWebSocket: true }),
    seed: (store) => {
      store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" });
      store.put("default", "openai", "api_key", { type: "api_key", key: openaiKey }, { preview: "sk-…" });
    },
    proxy: (upstream) => ({
      upgradeIdleMs: 400,
      maxConnectionsPerSession: 4,
      upstreams: {
        anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET", "HEAD", "POST"] } },
        openai: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], websocket: true } },
      },
    }),
  });
  rig.onTeardown(() => {
    for (const release of held.splice(0)) release();
  });
  const port = () => Number(new URL(rig.url).port);

  const fresh = () => rig.upstream.arrivals.splice(0);
  const anthropic = (session: string) => ({ "x-api-key": rig.phantom("anthropic", session) });
  const openai = (session: string) => ({ authorization: `Bearer ${rig.phantom("openai", session)}` });

  it("refuses TRACE, CONNECT-like and unlisted methods with 405 and forwards nothing", async () => {
    fresh();
    const h = anthropic("m-1");
    const trace = await request(rig.url, "/v1/echo", h, undefined, "TRACE");
    const del = await request(rig.url, "/v1/echo", h, undefined, "DELETE");
    const propfind = await request(rig.url, "/v1/echo", h, undefined, "PROPFIND");
    // TRACE is refused on every route, even one that lists every ordinary method.
    const traceDefault = await request(rig.url, "/v1/echo", openai("m-2"), undefined, "TRACE");
    expect([trace.status, del.status, propfind.status, traceDefault.status]).toEqual([405, 405, 405, 405]);
    expect(trace.headers.allow).toBe("GET, HEAD, POST");
    expect(fresh()).toEqual([]);
    expect((await request(rig.url, "/v1/echo", h, "{}", "POST")).status).toBe(200);
    expect((await request(rig.url, "/v1/echo", openai("m-3"), undefined, "DELETE")).status).toBe(200);
  });

  it("bridges only WebSocket upgrades, only where the route allows them: h2c and others are refused", async () => {
    fresh();
    const h2c = await upgrade(rig.url, "/v1/echo", { ...anthropic("u-1"), connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAARAAAAAAAIAAAAA" });
    const h2cOpenai = await upgrade(rig.url, "/v1/echo", { ...openai("u-2"), connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAARAAAAAAAIAAAAA" });
    const wsNotAllowed = await upgrade(rig.url, "/v1/ws", { ...anthropic("u-3"), ...WS_HEADERS });
    expect([h2c.status, h2cOpenai.status, wsNotAllowed.status]).toEqual([403, 403, 403]);
    expect(h2c.body).toContain("upgrade");
    expect(fresh()).toEqual([]);
    const ws = await upgrade(rig.url, "/v1/ws", { ...openai("u-4"), ...WS_HEADERS });
    expect(ws.status).toBe(101);
    ws.socket!.destroy();
    expect(fresh()[0]!.headers.authorization).toBe(`Bearer ${openaiKey}`);
  });

  it("returns the phantom, never the real key, when the upstream reflects the credential in headers and body", async () => {
    const h = anthropic("r-1");
    const phantom = h["x-api-key"];
    for (const path of ["/v1/echo", "/v1/echo-split", "/v1/echo-gzip", "/v1/echo-br"]) {
      fresh();
      const reply = await request(rig.url, path, { ...h, "accept-encoding": "gzip, br" }, undefined, "GET");
      const seen = JSON.stringify(reply.headers) + reply.body.toString("latin1");
      expect(reply.status, path).toBe(200);
      expect(seen.toLowerCase(), path).not.toContain(realKey.toLowerCase());
      expect(reply.body.toString(), path).toContain(phantom);
      // The upstream saw the real key, and was asked for a body the proxy can read.
      const [arrival] = fresh();
      expect(arrival!.headers["x-api-key"]).toBe(realKey);
      expect(arrival!.headers["accept-encoding"]).toBe("identity");
    }
    const echo = await request(rig.url, "/v1/echo", h, undefined, "GET");
    expect(echo.headers["x-echo"]).toBe(phantom);
    expect(echo.headers[`x-${phantom.toLowerCase()}`]).toBe("1");
    const head = await request(rig.url, "/v1/head", h, undefined, "HEAD");
    expect(head.headers["content-length"]).toBe("1234");
    expect(head.headers["x-echo"]).toBe(phantom);
    // An encoding the proxy cannot read is not passed on.
    const zstd = await request(rig.url, "/v1/echo-zstd", h, undefined, "GET");
    expect(zstd.status).toBe(502);
    expect(zstd.body.toString()).not.toContain(realKey);
  });

  it("refuses every path a server might normalise into another one", async () => {
    fresh();
    const h = anthropic("p-1");
    const hostile = [
      "/v1/..;/admin",
      "/v1/echo/..;/..;/admin",
      "/v1;/echo",
      "/v1/echo;jsessionid=x",
      "/v1/%252e%252e/admin",
      "/v1/%25252e%25252e/admin",
      "/v1/%u002e%u002e/admin",
      "/v1/%c0%ae%c0%ae/admin",
      "/v1/%e0%80%ae%e0%80%ae/admin",
      "/v1/%09../admin",
      "/v1/..%09/admin",
      "/v1/..%20/admin",
      "/v1/.%2e/admin",
      "/v1/%2E%2E/admin",
      "/v1/%2fadmin",
      "/v1/%5c..%5cadmin",
      "/v1/%00",
      "/v1/%0d%0ax",
      "/v1/%ef%bc%8e%ef%bc%8e/admin",
      "/v1/%e2%80%a4%e2%80%a4/admin",
      "/v1/%ef%bc%8fadmin",
      "/v1/%zz",
      "/v1/%e2%82",
      "/v1/echo/.",
      "/v1/echo/...",
    ];
    const statuses: Record<string, number> = {};
    for (const path of hostile) statuses[path] = (await raw(port(), [`GET ${path} HTTP/1.1`, "host: x", `x-api-key: ${h["x-api-key"]}`])).status;
    expect(statuses).toEqual(Object.fromEntries(hostile.map((p) => [p, 403])));
    expect(fresh().map((a) => a.url)).toEqual([]);
    // Ordinary encoded characters still pass.
    for (const path of ["/v1/echo?beta=true&x=%2e%2e", "/v1/echo/a%2Bb", "/v1/echo/%E2%9C%93", "/v1/echo/v1.2:x@y"]) {
      expect((await request(rig.url, path, h, undefined, "GET")).status, path).toBe(200);
    }
  });

  it("returns the phantom, never the real key, in WebSocket frames an upstream echoes it in", async () => {
    // A WebSocket upstream that answers the handshake with frames quoting the credential it got.
    const offered: Array<string | undefined> = [];
    const echo = http.createServer();
    echo.on("upgrade", (req, socket: Socket) => {
      const sent = String(req.headers.authorization);
      offered.push(req.headers["sec-websocket-extensions"] as string | undefined);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-echo: ${sent}\r\n\r\n`);
      const long = wsFrame(`{"seen":"${sent}","pad":"${"x".repeat(300)}"}`);
      const cut = long.length - 40;
      socket.write(Buffer.concat([wsFrame("hello"), wsFrame(`you sent ${sent}`), long.subarray(0, cut)]));
      setTimeout(() => socket.write(long.subarray(cut)), 100);
      socket.on("error", () => {});
      socket.on("end", () => socket.destroy());
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const wsProxy = createCredentialProxy({ context: rig.context, upstreams: { openai: { api_key: { base_url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`, allow_paths: ["/v1"], websocket: true } } } });
    const wsListening = await listenProxy(wsProxy, { port: 0 });
    try {
      const h = openai("ws-echo");
      const phantom = h.authorization.slice("Bearer ".length);
      const ws = await upgrade(wsListening.url!, "/v1/ws", { ...h, ...WS_HEADERS, "sec-websocket-extensions": "permessage-deflate" });
      expect(ws.status).toBe(101);
      const bytes = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [ws.head!];
        ws.socket!.on("data", (d: Buffer) => chunks.push(d));
        setTimeout(() => resolve(Buffer.concat(chunks)), 600);
      });
      ws.socket!.destroy();
      const texts: string[] = [];
      for (let at = 0; at < bytes.length; ) {
        const short = bytes[at + 1]! & 0x7f;
        const [start, length] = short === 126 ? [at + 4, bytes.readUInt16BE(at + 2)] : [at + 2, short];
        texts.push(bytes.subarray(start, start + length).toString());
        at = start + length;
      }
      expect(texts).toEqual(["hello", `you sent Bearer ${phantom}`, `{"seen":"Bearer ${phantom}","pad":"${"x".repeat(300)}"}`]);
      expect(bytes.toString("latin1")).not.toContain(openaiKey);
      expect(offered).toEqual([undefined]);
    } finally {
      await wsListening.close();
      await new Promise((r) => echo.close(r));
    }
  });

  it("closes an upgraded bridge that stays idle, both ways", async () => {
    const ws = await upgrade(rig.url, "/v1/ws", { ...openai("idle-1"), ...WS_HEADERS });
    expect(ws.status).toBe(101);
    const started = Date.now();
    const closed = await new Promise<number>((resolve) => {
      ws.socket!.on("error", () => {});
      ws.socket!.on("close", () => resolve(Date.now()));
      setTimeout(() => resolve(0), 5_000);
    });
    ws.socket!.destroy();
    expect(closed).not.toBe(0);
    expect(closed - started).toBeGreaterThanOrEqual(300);
  });

  it("bounds the connections one session holds; other sessions keep being served", async () => {
    fresh();
    const h = anthropic("cap-1");
    const sockets: Socket[] = [];
    const answers = await Promise.all(
      Array.from({ length: 7 }, () => {
        const socket = connect(port(), "127.0.0.1");
        sockets.push(socket);
        return new Promise<number>((resolve) => {
          let text = "";
          socket.on("data", (d: Buffer) => {
            text += d.toString();
            resolve(Number(text.slice(9, 12)));
          });
          socket.on("error", () => resolve(-1));
          // The held requests never answer until released: only refusals come back.
          setTimeout(() => resolve(0), 1_500);
          socket.write(`GET /v1/slow HTTP/1.1\r\nhost: x\r\nx-api-key: ${h["x-api-key"]}\r\n\r\n`);
        });
      }),
    );
    try {
      expect(answers.filter((s) => s === 0)).toHaveLength(4);
      expect(answers.filter((s) => s === 429)).toHaveLength(3);
      expect((await request(rig.url, "/v1/echo", anthropic("cap-2"), undefined, "GET")).status).toBe(200);
    } finally {
      for (const release of held.splice(0)) release();
      for (const socket of sockets) socket.destroy();
    }
  });
});
