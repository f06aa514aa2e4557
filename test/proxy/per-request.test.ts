import { readFileSync } from "node:fs";
import http from "node:http";
import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { mintPhantoms, revokeSession } from "../../src/proxy/phantoms.js";
import { proxyAuditEvent } from "../../src/serve/proxyMount.js";
import { AuditLog, auditPath } from "../../src/store/audit.js";
import type { AuditVerdict } from "../../src/store/auditVerify.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome, testEnv } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { runInProcess } from "../helpers/memory-io.js";
import { listenLoopback, useProxy } from "../helpers/proxyFixture.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 23 item 4, the proxy's cost per request: a request's head goes upstream with its body in
 * one write; forwarded requests share audit appends (a refusal does not wait, a clean stop writes
 * what waits, the chain verifies); one cached entry per phantom still sees a revocation or a new
 * credential at the next request.
 */

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const envOf = (home: string) => ({ ...testEnv(), AUTHCTL_HOME: home, NO_COLOR: "1" });
const immediate = () => new Promise((done) => setImmediate(done));
const lines = (home: string) =>
  readFileSync(auditPath(home), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { op?: string; type?: string; path?: string; allowed?: boolean; seq: number });

async function verify(home: string) {
  const json = await runInProcess(envOf(home), ["audit", "verify", "--json"]);
  return { exitCode: json.exitCode, verdict: JSON.parse(json.stdout) as AuditVerdict };
}

function post(url: string, path: string, key: string, body?: string, method = "POST"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { "x-api-key": key, ...(body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }) };
    const req = http.request(`${url}${path}`, { method, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("a request's head and body upstream", () => {
  const realKey = canary("sk-ant-");
  /** What the upstream read, and each request head it saw. */
  const reads: string[] = [];
  const heads: string[] = [];
  /** Set: the next request on a connection that already served one is dropped unanswered, as a server closing a kept-alive connection does. */
  let dropReused = false;
  const served = new WeakSet<Socket>();

  /** An upstream over node:net, so what it reads is the proxy's writes as they came. */
  async function rawUpstream() {
    const server = createServer((socket) => {
      let pending = "";
      socket.on("data", (data: Buffer) => {
        reads.push(data.toString("latin1"));
        pending += data.toString("latin1");
        for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
          const head = pending.slice(0, end);
          const length = Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? 0);
          if (pending.length < end + 4 + length) return;
          const body = pending.slice(end + 4, end + 4 + length);
          pending = pending.slice(end + 4 + length);
          heads.push(head);
          if (dropReused && served.has(socket)) {
            dropReused = false;
            return void socket.destroy();
          }
          served.add(socket);
          const key = /^x-api-key: *(.*)$/im.exec(head)?.[1]?.trim() ?? "";
          const answer = JSON.stringify({ body, keyIsReal: key === realKey });
          socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`);
        }
      });
      socket.on("error", () => socket.destroy());
    });
    return { url: await listenLoopback(server), close: () => new Promise((done) => server.close(done)) };
  }
  const rig = useProxy("authctl-per-request-", {
    upstream: rawUpstream,
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"] } } } }),
  });

  it("a POST's head, written with its body's first bytes, reaches the upstream whole and before the body; a bodiless GET's head goes at its end", async () => {
    const key = rig.phantom("anthropic", "one-write");
    const body = JSON.stringify({ messages: [{ role: "user", content: canary("body-") }] });
    reads.length = 0;
    const reply = await post(rig.url, "/v1/messages", key, body);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ body, keyIsReal: true });
    const arrived = reads.join("");
    expect(arrived).toMatch(/^POST \/v1\/messages HTTP\/1\.1\r\n[^]*\r\n\r\n/);
    expect(arrived.endsWith(`\r\n\r\n${body}`)).toBe(true);
    expect(arrived).not.toContain(key);
    const get = await post(rig.url, "/v1/models", key, undefined, "GET");
    expect(JSON.parse(get.body)).toEqual({ body: "", keyIsReal: true });
  });

  it("a kept-alive connection the upstream drops as it is reused: a bodiless request is sent again, head and all; one with a body is not", async () => {
    const key = rig.phantom("anthropic", "reused");
    // The first request leaves its upstream connection in the pool; the next one takes it and is dropped there.
    expect((await post(rig.url, "/v1/drop-reused", key, undefined, "GET")).status).toBe(200);
    heads.length = 0;
    dropReused = true;
    const again = await post(rig.url, "/v1/drop-reused", key, undefined, "GET");
    expect(again.status).toBe(200);
    expect(heads.map((h) => h.split("\r\n")[0])).toEqual(["GET /v1/drop-reused HTTP/1.1", "GET /v1/drop-reused HTTP/1.1"]);
    expect(heads[1]).toContain(`x-api-key: ${realKey}`);

    // The connection the retry made is pooled again: a POST taking it is dropped there, and never sent twice.
    heads.length = 0;
    dropReused = true;
    const dropped = await post(rig.url, "/v1/drop-reused", key, '{"once":true}');
    expect(dropped.status).toBe(502);
    expect(heads.map((h) => h.split("\r\n")[0])).toEqual(["POST /v1/drop-reused HTTP/1.1"]);
  });

  it("one cached entry per phantom: a new key stored is sent at the next request, and a revoked session gets 401 at its next request", async () => {
    const key = rig.phantom("anthropic", "cached");
    expect(JSON.parse((await post(rig.url, "/v1/messages", key, "{}")).body)).toMatchObject({ keyIsReal: true });
    const writer = CredentialStore.open({ home: rig.home, env: baseEnv() });
    cleanups.push(() => writer.close());
    writer.put("default", "anthropic", "api_key", { type: "api_key", key: canary("sk-ant-other-") }, { preview: "sk-ant-…" });
    expect(JSON.parse((await post(rig.url, "/v1/messages", key, "{}")).body)).toMatchObject({ keyIsReal: false });
    writer.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" });
    expect(JSON.parse((await post(rig.url, "/v1/messages", key, "{}")).body)).toMatchObject({ keyIsReal: true });
    revokeSession("cached", { context: new Authctl({ env: baseEnv(), store: writer }) });
    expect((await post(rig.url, "/v1/messages", key, "{}")).status).toBe(401);
  });
});

describe("forwarded requests share audit appends", () => {
  /** A daemon's log (groupWrites, the store's lock and checkpoint key) over a home with a key stored. */
  function daemonLog(batchMs: number) {
    const t = tempHome("authctl-audit-batch-");
    cleanups.push(t.cleanup);
    const store = CredentialStore.open({ home: t.home, env: envOf(t.home) });
    cleanups.push(() => store.close());
    store.put("work", "anthropic", "api_key", { type: "api_key", key: canary("sk-ant-") }, { preview: "sk-…" });
    const log = new AuditLog(auditPath(t.home), Date.now, { groupWrites: true, batchMs, keeper: () => store.auditKeeper() });
    const request = (path: string, refused?: string) =>
      log.record(proxyAuditEvent({ sessionId: "agent-1", credentialSet: "work", provider: "anthropic", method: "POST", path, status: refused ? 403 : 200, bytesIn: 2, bytesOut: 40, durationMs: 1, ...(refused ? { refused } : {}) }), { batch: !refused });
    return { home: t.home, log, request };
  }
  const proxied = (home: string) => lines(home).filter((l) => l.op === "proxy").map((l) => l.path);

  it("a forwarded request's line waits for the next append; a refusal's goes at once with those before it, in order; a clean stop writes the rest before its checkpoint", async () => {
    const { home, log, request } = daemonLog(60_000);
    request("/v1/first");
    await immediate();
    // Nothing was appended before: the first line goes at once.
    expect(proxied(home)).toEqual(["/v1/first"]);
    request("/v1/second");
    request("/v1/third");
    await immediate();
    expect(proxied(home)).toEqual(["/v1/first"]);
    request("/v1/admin", "authctl proxy: this path is not allowed for anthropic");
    await immediate();
    expect(proxied(home)).toEqual(["/v1/first", "/v1/second", "/v1/third", "/v1/admin"]);
    request("/v1/last");
    await immediate();
    expect(proxied(home)).toHaveLength(4);
    log.close();
    expect(proxied(home)).toEqual(["/v1/first", "/v1/second", "/v1/third", "/v1/admin", "/v1/last"]);
    expect(lines(home).at(-1)!.type).toBe("checkpoint");
    const { exitCode, verdict } = await verify(home);
    expect(verdict).toMatchObject({ ok: true, warnings: [] });
    expect(exitCode).toBe(0);
  });

  it("a service answer waiting on its line does not wait for the batch", async () => {
    const { home, log, request } = daemonLog(60_000);
    request("/v1/first");
    await immediate();
    request("/v1/second");
    log.record({ actor: "admin", op: "/v1/get", target: "work:anthropic", allowed: true });
    let answered = false;
    log.whenWritten(() => (answered = true));
    await immediate();
    expect(answered).toBe(true);
    expect(lines(home).map((l) => l.op ?? l.type)).toEqual(["proxy", "proxy", "/v1/get"]);
    log.close();
  });

  it("the daemon's proxy: a burst of forwarded requests and a clean stop right after leave every line, chained, with the stop's checkpoint last", async () => {
    const t = tempHome("authctl-audit-burst-");
    cleanups.push(t.cleanup);
    const upstream = await fakeUpstream((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    cleanups.push(() => upstream.close());
    const context = new Authctl({ env: envOf(t.home), home: t.home });
    cleanups.push(() => context.close());
    storeApiKey("anthropic", canary("sk-ant-"), { context });
    const upstreams = { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"] } } };
    const { started, stop } = await listeningService(context, { proxy: { port: 0, tls: false, upstreams } });
    const key = mintPhantoms("anthropic", { context, sessionId: "burst" }).accessToken;
    const count = 25;
    for (let i = 0; i < count; i++) expect((await post(started.proxy.url!, `/v1/messages/${i}`, key, "{}")).status).toBe(200);
    await stop();
    const written = lines(t.home);
    expect(written.filter((l) => l.op === "proxy").map((l) => l.path)).toEqual(Array.from({ length: count }, (_, i) => `/v1/messages/${i}`));
    expect(written.at(-1)!.type).toBe("checkpoint");
    const { exitCode, verdict } = await verify(t.home);
    expect(verdict).toMatchObject({ ok: true, warnings: [] });
    expect(exitCode).toBe(0);
  });
});
