import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { Authctl } from "../../src/context.js";
import type { OAuth2Payload } from "../../src/credentials/oauth2.js";
import { prepareHostLogin } from "../../src/logins/authenticator.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { createCredentialProxy } from "../../src/proxy/proxy.js";
import { listenProxy } from "../../src/proxy/server.js";
import { fakeUpstream, type FakeHandler } from "../helpers/fake-upstream.js";
import { oauth2At, useHostLoginFixture } from "../helpers/host-roster.js";
import { request } from "../helpers/http-reply.js";

/**
 * A host login (OAuth 2.0 token set, from a real device-code login against the fake identity
 * server) whose access token the store thinks valid for an hour, but which the upstream refuses
 * (revoked, rotated elsewhere): the proxy refreshes it once and sends the request again.
 */
describe("the proxy refreshes and retries once on a 401 to a stored host-login token", () => {
  const host = useHostLoginFixture("r");

  async function loggedIn(context: Authctl): Promise<string> {
    await host.start((fake) => oauth2At(fake.base, "oauth2_device", "github-oauth"), { expiresIn: 3600 });
    await using session = await prepareHostLogin("github-oauth", { context });
    await session.capture();
    return context.store().get<OAuth2Payload>("default", "github-oauth")!.payload.access_token;
  }

  /** The vendor's answer to a token it does not accept. */
  const unauthorized: FakeHandler = (_req, res) => void res.writeHead(401, { "content-type": "application/json" }).end('{"message":"Bad credentials"}');

  const refreshes = () => host.server.grants.filter((g) => g.grant_type === "refresh_token").length;

  async function withProxy(context: Authctl, handler: FakeHandler, fn: (call: (body: string) => ReturnType<typeof request>, upstream: Awaited<ReturnType<typeof fakeUpstream>>) => Promise<void>) {
    const upstream = await fakeUpstream(handler);
    const proxy = createCredentialProxy({ context, upstreams: { "github-oauth": { oauth: { base_url: upstream.url, allow_paths: ["/v1"], header: "authorization" } } } });
    const listening = await listenProxy(proxy, { port: 0 });
    try {
      const { accessToken } = mintPhantoms("github-oauth", { context, sessionId: "retry-401" });
      await fn((body) => request(listening.url!, "/v1/items", { authorization: `Bearer ${accessToken}`, "content-type": "application/json" }, body), upstream);
    } finally {
      await listening.close();
      await upstream.close();
    }
  }

  it("four concurrent requests refused with the old token: exactly one refresh, each retried once with the new token and its body", async () => {
    using context = host.context();
    const old = await loggedIn(context);
    const refused: FakeHandler = (req, res, body) => {
      if (req.headers.authorization === `Bearer ${old}`) return unauthorized(req, res, body);
      res.writeHead(200, { "content-type": "application/json" }).end(body);
    };
    await withProxy(context, refused, async (call, upstream) => {
      const replies = await Promise.all([0, 1, 2, 3].map((n) => call(JSON.stringify({ n }))));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(replies.map((r) => JSON.parse(r.body.toString()).n)).toEqual([0, 1, 2, 3]);
      expect(refreshes()).toBe(1);
      const fresh = context.store().get<OAuth2Payload>("default", "github-oauth")!.payload.access_token;
      expect(fresh).not.toBe(old);
      const retried = upstream.arrivals.filter((a) => a.headers.authorization === `Bearer ${fresh}`);
      expect(retried.map((a) => JSON.parse(a.body.toString()).n).sort()).toEqual([0, 1, 2, 3]);
      for (const r of replies) {
        expect(r.body.toString()).not.toContain(old);
        expect(r.body.toString()).not.toContain(fresh);
      }
    });
  }, 60_000);

  it("a second 401 (the new token refused too) goes to the client: one refresh, two sends, no loop", async () => {
    using context = host.context();
    await loggedIn(context);
    await withProxy(context, unauthorized, async (call, upstream) => {
      const reply = await call('{"n":1}');
      expect(reply.status).toBe(401);
      expect(refreshes()).toBe(1);
      expect(upstream.arrivals).toHaveLength(2);
    });
  }, 60_000);

  it("a body too big to replay (over 8 MiB) is not sent twice: the 401 goes to the client and nothing is refreshed", async () => {
    using context = host.context();
    await loggedIn(context);
    await withProxy(context, unauthorized, async (call, upstream) => {
      const reply = await call(JSON.stringify({ blob: "x".repeat(9 * 1024 * 1024) }));
      expect(reply.status).toBe(401);
      expect(refreshes()).toBe(0);
      expect(upstream.arrivals).toHaveLength(1);
    });
  }, 60_000);

  it("a WebSocket upgrade refused with the old token: one refresh, and the upgrade sent again bridges with the new one", async () => {
    using context = host.context();
    const old = await loggedIn(context);
    const seen: string[] = [];
    const upstream = http.createServer((_req, res) => void res.writeHead(404).end());
    const bridged = new Set<Socket>();
    upstream.on("upgrade", (req: http.IncomingMessage, socket: Socket) => {
      bridged.add(socket);
      seen.push(String(req.headers.authorization));
      if (req.headers.authorization === `Bearer ${old}`) return void socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
      socket.on("error", () => socket.destroy());
    });
    await new Promise<void>((done) => upstream.listen(0, "127.0.0.1", done));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const proxy = createCredentialProxy({ context, upstreams: { "github-oauth": { oauth: { base_url: base, allow_paths: ["/v1"], header: "authorization", websocket: true } } } });
    const listening = await listenProxy(proxy, { port: 0 });
    try {
      const { accessToken } = mintPhantoms("github-oauth", { context, sessionId: "retry-401-ws" });
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${listening.url}/v1/ws`, {
          headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", authorization: `Bearer ${accessToken}` },
        });
        req.on("upgrade", (res, socket: Socket) => {
          socket.destroy();
          resolve(res.statusCode!);
        });
        req.on("response", (res) => resolve(res.statusCode!));
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(101);
      expect(refreshes()).toBe(1);
      const fresh = context.store().get<OAuth2Payload>("default", "github-oauth")!.payload.access_token;
      expect(seen).toEqual([`Bearer ${old}`, `Bearer ${fresh}`]);
    } finally {
      await listening.close();
      // An upgraded socket is no longer the server's to close.
      for (const socket of bridged) socket.destroy();
      upstream.closeAllConnections();
      await new Promise<void>((done) => upstream.close(() => done()));
    }
  }, 60_000);
});
