import { createHash } from "node:crypto";
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Arrival {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  upgrade: boolean;
}

export type FakeHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/**
 * A vendor API stand-in on 127.0.0.1 that records everything that arrives (headers and bodies),
 * answers with `handler`, and accepts WebSocket upgrades as an echo server when `acceptWebSocket`.
 */
export async function fakeUpstream(handler: FakeHandler, options: { acceptWebSocket?: boolean } = {}) {
  const arrivals: Arrival[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      arrivals.push({ method: req.method!, url: req.url!, headers: req.headers, body, upgrade: false });
      handler(req, res, body);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    arrivals.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), upgrade: true });
    if (!options.acceptWebSocket) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    socket.on("data", (d: Buffer) => socket.write(d));
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A short WebSocket text frame as a server sends it (unmasked). The fake echoes raw bytes, and the
 * proxy passes only whole frames back: a test writes these to see its bytes come back.
 */
export function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}

/** One SSE event in the wire format. */
export const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
