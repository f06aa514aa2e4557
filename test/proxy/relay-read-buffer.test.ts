import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { useProxy } from "../helpers/proxyFixture.js";
import { canary, REPO } from "../helpers/env.js";
import { localCa } from "../../src/proxy/localCa.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import type { ResolvedRoute } from "../../src/proxy/routes.js";
import { type UpstreamAnswer, UpstreamPool, UpstreamRequest } from "../../src/proxy/upstreamClient.js";

const realKey = canary("sk-ant-");

/** Line i of a big answer: its number, so a byte read over another read's is seen; every 9973rd carries the key (a read holding it is sent as a copy, so most are not). */
const line = (i: number, key: string) => `${String(i).padStart(8, "0")} ${i % 9973 === 0 ? `key=${key} ` : ""}${"x".repeat(40 + (i % 50))}\n`;
const LINES = 120_000;
const MID = "m".repeat(100_000);
const body = (key: string) => Array.from({ length: LINES }, (_, i) => line(i, key)).join("");

/** The upstream's client ports: one per connection the proxy dialled. */
const dialled = new Set<number>();

/**
 * An upstream sending a big answer (about 9 MB) as fast as the proxy reads it: chunked
 * (`/v1/chunked`), with a content-length (`/v1/length`), or one of 100 KB (`/v1/mid`), more than a read buffer.
 */
const answerBig = (req: http.IncomingMessage, res: http.ServerResponse) => {
    dialled.add(req.socket.remotePort!);
    if (req.url?.startsWith("/v1/mid")) return void res.writeHead(200, { "content-type": "text/plain", "content-length": MID.length }).end(MID);
    const whole = Buffer.from(body(String(req.headers["x-api-key"] ?? "")));
    res.writeHead(200, { "content-type": "text/plain", ...(req.url?.startsWith("/v1/length") ? { "content-length": whole.length } : {}) });
    let at = 0;
    const pump = () => {
      while (at < whole.length) {
        const piece = whole.subarray(at, (at += 16 * 1024 + (at % 7)));
        if (!res.write(piece)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  };
const bigUpstream = () => fakeUpstream(answerBig);

/**
 * A client that reads slowly: nothing for `stallMs` (the proxy's writes back up in the kernel),
 * then in bursts with pauses, so the proxy's writes are often not taken at once while the
 * upstream's next reads arrive. Resolves with the body's hash, its length and whether it holds the key.
 */
function slowFetch(base: string, path: string, key: string, stallMs: number): Promise<{ status: number; sha256: string; bytes: number; leaked: boolean; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { agent: false, headers: { "x-api-key": key } }, (res) => {
      const hash = createHash("sha256");
      let bytes = 0;
      let leaked = false;
      let tail = "";
      let complete = false;
      let events = 0;
      res.pause();
      setTimeout(() => res.resume(), stallMs);
      res.on("data", (data: Buffer) => {
        hash.update(data);
        bytes += data.length;
        const text = tail + data.toString("latin1");
        leaked ||= text.includes(realKey);
        tail = text.slice(-realKey.length);
        if (++events % 8 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 3);
        }
      });
      res.on("end", () => (complete = true));
      res.on("error", () => undefined);
      res.on("close", () => resolve({ status: res.statusCode!, sha256: hash.digest("hex"), bytes, leaked, complete }));
    });
    req.on("error", reject);
    req.end();
  });
}

const expected = (phantom: string) => {
  const text = Buffer.from(body(phantom));
  return { sha256: createHash("sha256").update(text).digest("hex"), bytes: text.length };
};

/**
 * Issue 23 item 4: each upstream connection reads into one buffer of its own, reused for every
 * read. A client that reads slowly leaves the proxy's writes to it unfinished while the
 * upstream's next bytes arrive: none of them may land on bytes still waiting to go out, nor
 * may the next answer on the same (pooled) connection. Every byte arrives once and in order,
 * and the secret is replaced wherever the reads cut it.
 */
describe("the relay's reused read buffer", () => {
  const rig = useProxy("authctl-relay-buffer-", {
    upstream: bigUpstream,
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET"] } } } }),
  });

  it("a slow-reading client gets a chunked and a content-length answer whole, in order and scrubbed", async () => {
    const phantom = rig.phantom("anthropic", "slow-reader");
    const want = expected(phantom);
    const seen = await Promise.all([slowFetch(rig.url, "/v1/chunked", phantom, 400), slowFetch(rig.url, "/v1/length", phantom, 700)]);
    for (const got of seen) expect(got).toEqual({ status: 200, ...want, leaked: false, complete: true });
  }, 120_000);

  it("the session's byte budget cuts an answer relayed from the read buffer, then refuses by session.max_bytes", async () => {
    const phantom = rig.phantom("anthropic", "read-buffer-budget", { policy: { maxBytes: 3_000 } });
    // Cut before its head reached the client (a hang-up), or after.
    const cut = await slowFetch(rig.url, "/v1/mid", phantom, 0).catch(() => ({ complete: false, bytes: 0 }));
    expect(cut.complete).toBe(false);
    expect(cut.bytes).toBeLessThan(3_000);
    const refused = await slowFetch(rig.url, "/v1/mid", phantom, 0);
    expect(refused.status).toBe(403);
    expect(rig.audit.at(-1)).toMatchObject({ status: 403, rule: "session.max_bytes" });
  }, 60_000);

  it("over TLS (tls.connect reads into the connection's buffer too) a chunked answer arrives whole and in order", async () => {
    const ca = localCa({ context: rig.context });
    const server = https.createServer(ca.issueServerIdentity(), answerBig);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    rig.onTeardown(() => server.close());
    // In its own process: the upstream's CA is trusted there (NODE_EXTRA_CA_CERTS), as a vendor's public one is.
    const script = `
      import { createHash } from "node:crypto";
      import { UpstreamPool, UpstreamRequest } from ${JSON.stringify(join(REPO, "dist/proxy/upstreamClient.js"))};
      const route = { base_url: "https://localhost:${(server.address() as { port: number }).port}", methods: ["GET"] };
      const request = new UpstreamRequest(new UpstreamPool(), route, "GET", "/v1/chunked", { "x-api-key": "tls-key" }, { maxRequestBytes: 1024, upstreamIdleMs: 30000 }, true);
      request.on("error", (error) => { console.log(JSON.stringify({ error: error.message })); process.exit(1); });
      request.on("response", (answer) => {
        const hash = createHash("sha256");
        let bytes = 0;
        answer.sink = (read) => { hash.update(read); bytes += read.length; return true; };
        answer.resume();
        answer.once("end", () => { console.log(JSON.stringify({ sha256: hash.digest("hex"), bytes })); process.exit(0); });
      });
      request.end();`;
    const child = await execa("node", ["--input-type=module", "-e", script], { env: { NODE_EXTRA_CA_CERTS: ca.certificateFile }, reject: false });
    expect(JSON.parse(child.stdout)).toEqual(expected("tls-key"));
  }, 60_000);

  it("a connection whose last read a sink still holds goes back to the pool only when the sink is done", async () => {
    const pool = new UpstreamPool();
    const route = { base_url: rig.upstream.url, mode: "api_key", methods: ["GET"], header: "x-api-key", allow_paths: ["/v1"] } as unknown as ResolvedRoute;
    const limits = { maxRequestBytes: 1024, upstreamIdleMs: 30_000 };
    /** One GET whose answer goes to a sink: with `hold` it keeps each read's bytes where they are and says it still holds them; else a copy. */
    const get = (hold: boolean) =>
      new Promise<{ views: Buffer[]; resume: () => void }>((resolve, reject) => {
        const request = new UpstreamRequest(pool, route, "GET", "/v1/mid", {}, limits, true);
        const views: Buffer[] = [];
        let bytes = 0;
        let resume = () => undefined as void;
        request.on("error", reject);
        request.on("response", (answer: UpstreamAnswer) => {
          answer.sink = (read, more) => {
            views.push(hold ? read : Buffer.from(read));
            bytes += read.length;
            resume = more;
            if (!hold) return true;
            // Let go of every read but the last, so the answer ends while its last read is held.
            if (bytes < MID.length) setImmediate(more);
            return false;
          };
          answer.resume();
          answer.once("end", () => resolve({ views, resume }));
        });
        request.end();
      });
    const before = dialled.size;
    const held = await get(true);
    const last = Buffer.from(held.views.at(-1)!);
    // Its connection is not in the pool yet: the next request dials another, whose reads cannot land on the held bytes.
    const next = await get(false);
    expect(Buffer.concat(next.views).toString()).toBe(MID);
    expect(dialled.size).toBe(before + 2);
    expect(held.views.at(-1)!.equals(last)).toBe(true);
    // Once the sink is done, the connection is pooled and reused.
    held.resume();
    await get(false);
    expect(dialled.size).toBe(before + 2);
  }, 60_000);
});
