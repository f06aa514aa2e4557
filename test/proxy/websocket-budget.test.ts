import { createHash } from "node:crypto";
import http from "node:http";
import type { Socket } from "node:net";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { baseEnv } from "../helpers/context.js";
import { canary } from "../helpers/env.js";
import { listenLoopback, useProxy } from "../helpers/proxyFixture.js";

/** What one upstream stream holds: far more than the budgets below, in frames of one size. */
const FRAMES = 200;
const FRAME_BYTES = 16 * 1024;
const STREAM_BYTES = FRAMES * FRAME_BYTES;
const BUDGET = 100_000;

const frameHead = (opcode: number, length: number) =>
  length < 126 ? Buffer.from([0x80 | opcode, length]) : Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff]);
const closeFrame = (code: number) => Buffer.concat([frameHead(8, 2), Buffer.from([code >> 8, code & 0xff])]);

/**
 * A WebSocket vendor stand-in on 127.0.0.1. `/v1/down` streams FRAMES binary frames as fast as the
 * connection takes them, then closes (1000); `/v1/up` counts the payload bytes of the client's
 * (masked) frames and closes (1000) once it got FRAMES messages. Every upgrade's counts are kept.
 */
async function wsUpstream() {
  const streams: Array<{ path: string; sent: number; received: number; messages: number }> = [];
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
  const sockets = new Set<Socket>();
  server.on("upgrade", (req, socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    const stream = { path: req.url ?? "", sent: 0, received: 0, messages: 0 };
    streams.push(stream);
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on("data", (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 2) {
        const code = pending[1]! & 0x7f;
        const header = (code === 126 ? 4 : code === 127 ? 10 : 2) + (pending[1]! & 0x80 ? 4 : 0);
        if (pending.length < header) return;
        const length = code === 126 ? pending.readUInt16BE(2) : code === 127 ? Number(pending.readBigUInt64BE(2)) : code;
        if (pending.length < header + length) return;
        const opcode = pending[0]! & 0x0f;
        pending = pending.subarray(header + length);
        if (opcode === 8) return void socket.end(closeFrame(1000));
        if (opcode === 1 || opcode === 2) {
          stream.messages++;
          stream.received += length;
          if (stream.path === "/v1/up" && stream.messages === FRAMES) socket.end(closeFrame(1000));
        }
      }
    });
    if (stream.path !== "/v1/down") return;
    const frame = Buffer.concat([frameHead(2, FRAME_BYTES), Buffer.alloc(FRAME_BYTES, 0x61)]);
    const pump = () => {
      while (stream.sent < FRAMES && !socket.destroyed) {
        stream.sent++;
        if (!socket.write(frame)) return void socket.once("drain", pump);
      }
      if (!socket.destroyed) socket.end(closeFrame(1000));
    };
    pump();
  });
  return { url: await listenLoopback(server), streams, close: () => new Promise((r) => {
      // Upgraded sockets are the test's own to end: the server no longer tracks them.
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      server.close(r);
    }) };
}

/**
 * A real WebSocket client (undici's, Node's own `WebSocket`) in its own process: it opens the
 * bridge with the phantom, then reads (`down`) or sends FRAMES messages (`up`), and reports what
 * it received and how the connection was closed.
 */
const CLIENT = `
const { url, authorization, send, frames, size } = JSON.parse(process.env.WS_CLIENT);
const ws = new WebSocket(url, { headers: { authorization } });
ws.binaryType = "arraybuffer";
let received = 0, messages = 0;
ws.onopen = () => { if (send) for (let i = 0; i < frames; i++) ws.send(new Uint8Array(size)); };
ws.onmessage = (e) => { messages++; received += typeof e.data === "string" ? Buffer.byteLength(e.data) : e.data.byteLength; };
ws.onerror = () => {};
ws.onclose = (e) => { console.log(JSON.stringify({ received, messages, code: e.code, reason: e.reason })); process.exit(0); };
setTimeout(() => { console.log(JSON.stringify({ received, messages, code: "timeout" })); process.exit(0); }, 20000);
`;

interface ClientReport {
  received: number;
  messages: number;
  code: number | "timeout";
  reason?: string;
}

async function wsClient(url: string, authorization: string, send: boolean): Promise<ClientReport> {
  const env = { ...baseEnv(), WS_CLIENT: JSON.stringify({ url, authorization, send, frames: FRAMES, size: FRAME_BYTES }) };
  const run = await execa("node", ["--experimental-websocket", "--no-warnings", "-e", CLIENT], { env, extendEnv: false, reject: false, timeout: 30_000 });
  expect(run.exitCode, String(run.stderr)).toBe(0);
  return JSON.parse(String(run.stdout).trim()) as ClientReport;
}

/**
 * Issue 23 item 1, the byte budget over a WebSocket: a session minted with a byte budget
 * (`--max-bytes`) must not stream past it over one upgraded connection, in either direction. The
 * bridge counts what crosses it as it crosses, stops relaying at the budget, closes the client's
 * side with 1008 naming the rule (and ends the upstream's), writes the audit line with the rule,
 * and the session's next request is refused. Through the real proxy, with a real WebSocket client
 * process and a WebSocket upstream on loopback.
 */
describe("a session's byte budget holds over a WebSocket", () => {
  const key = canary("sk-proj-");
  const rig = useProxy("authctl-ws-budget-", {
    upstream: wsUpstream,
    seed: (store) => store.put("default", "openai", "api_key", { type: "api_key", key }, { preview: "sk-…" }),
    proxy: (upstream) => ({ upstreams: { openai: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], websocket: true } } } }),
  });
  const { audit } = rig;

  const ws = (path: string) => rig.url.replace(/^http/, "ws") + path;
  const bearer = (session: string, maxBytes?: number) =>
    `Bearer ${rig.phantom("openai", session, maxBytes ? { policy: { maxBytes } } : {})}`;
  const auditOf = async (session: string) => {
    // The bridge is audited once the client's socket has closed: at once, not after the proxy's grace for a silent client (5 s).
    for (let i = 0; i < 30 && !audit.some((e) => e.sessionId === session); i++) await new Promise((r) => setTimeout(r, 100));
    return audit.filter((e) => e.sessionId === session);
  };

  it("positive control: a session without a byte budget streams the whole upstream answer, closed 1000 by the upstream", async () => {
    const report = await wsClient(ws("/v1/down"), bearer("wsb-free"), false);
    expect(report).toEqual(expect.objectContaining({ received: STREAM_BYTES, messages: FRAMES, code: 1000 }));
    expect((await auditOf("wsb-free"))[0]).toEqual(expect.objectContaining({ status: 101, bytesOut: expect.any(Number) }));
  });

  it("upstream to client: relaying stops at the budget, the client gets a 1008 close naming session.max_bytes, the audit line names the rule", async () => {
    const report = await wsClient(ws("/v1/down"), bearer("wsb-down", BUDGET), false);
    expect(report.received, JSON.stringify(report)).toBeLessThanOrEqual(BUDGET);
    expect(report.code).toBe(1008);
    expect(report.reason).toContain("session.max_bytes");
    const lines = await auditOf("wsb-down");
    expect(lines).toEqual([expect.objectContaining({ status: 101, rule: "session.max_bytes" })]);
    expect(JSON.stringify(lines)).not.toContain(key);
    expect(rig.listening.connections(), "the proxy still holds the cut bridge").toBe(0);
    // Spent: the session's next request is refused before anything is forwarded.
    const next = await fetch(`${rig.url}/v1/models`, { headers: { authorization: bearer("wsb-down", BUDGET) } });
    expect(next.status).toBe(403);
    expect(await next.text()).toContain("session.max_bytes");
  });

  it("client to upstream: the upstream receives no more than the budget, the client is closed with 1008", async () => {
    const report = await wsClient(ws("/v1/up"), bearer("wsb-up", BUDGET), true);
    const stream = rig.upstream.streams.filter((s) => s.path === "/v1/up").at(-1)!;
    expect(stream.received, JSON.stringify({ stream, report })).toBeLessThanOrEqual(BUDGET);
    expect(report.code).toBe(1008);
    expect(report.reason).toContain("session.max_bytes");
    expect(await auditOf("wsb-up")).toEqual([expect.objectContaining({ status: 101, rule: "session.max_bytes" })]);
  });
});
