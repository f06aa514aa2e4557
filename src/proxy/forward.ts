import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";
import { credentialHeader, forwardableHeaders, type ResolvedRoute } from "./routes.js";

/** A request body bigger than this is refused (413) and never fully read. */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Bodies up to this size are kept so the request can be sent once more after a refresh. */
const REPLAY_LIMIT = 8 * 1024 * 1024;

export interface ForwardLimits {
  maxRequestBytes: number;
  /** An upstream silent for this long (no bytes either way) is cut off. */
  upstreamIdleMs: number;
}

/** Counts the request body, refuses it past the limit, and keeps a copy for one replay. */
export class BodyMeter extends Transform {
  bytes = 0;
  readonly chunks: Buffer[] = [];
  replayable = true;
  tooLarge = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.tooLarge = true;
      done(new Error("request body too large"));
      return;
    }
    if (this.replayable && this.bytes <= REPLAY_LIMIT) this.chunks.push(chunk);
    else {
      this.replayable = false;
      this.chunks.length = 0;
    }
    done(null, chunk);
  }
}

/**
 * Joins the chunks that one read of the upstream socket yields (an SSE stream arrives as many
 * small chunks) into one write to the client: one chunk header and one syscall instead of dozens.
 * Flushed before the next I/O turn, so no event waits; counts the bytes for the audit.
 */
export class ChunkJoiner extends Transform {
  bytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.release());
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.release();
    done();
  }

  private release(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.push(joined);
  }
}

export function upstreamRequest(route: ResolvedRoute, method: string, path: string, headers: OutgoingHttpHeaders, limits: ForwardLimits): http.ClientRequest {
  const target = new URL(route.base_url);
  const send = target.protocol === "https:" ? https.request : http.request;
  const base = target.pathname.replace(/\/+$/, "");
  const req = send({
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port || undefined,
    method,
    path: base + path,
    headers: { ...headers, host: target.host },
    timeout: limits.upstreamIdleMs,
  });
  req.on("timeout", () => req.destroy(new Error("upstream timed out")));
  return req;
}

export function headersFor(route: ResolvedRoute, incoming: IncomingHttpHeaders, secret: string, upgrade = false): OutgoingHttpHeaders {
  const headers = forwardableHeaders(incoming, { dropCredentials: true, keepUpgrade: upgrade });
  const [name, value] = credentialHeader(route, secret);
  headers[name] = value;
  return headers;
}

/** The upstream's response headers minus hop-by-hop ones; content-encoding and length pass untouched. */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return forwardableHeaders(headers);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), connection: "close" });
  res.end(text);
}

/** The same refusal on a raw socket (an upgrade request has no ServerResponse). */
export function refuseSocket(socket: Socket, status: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  if (!socket.writable) return void socket.destroy();
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/** Writes an upstream's handshake answer (101 or a refusal) onto a raw client socket. */
export function writeRawHead(socket: Socket, res: IncomingMessage, extra: string[] = []): void {
  const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ""}`];
  const keep = res.statusCode === 101 ? new Set(["connection", "upgrade"]) : new Set<string>();
  const headers = { ...responseHeaders(res.headers) };
  for (const [name, value] of Object.entries(res.headers)) if (keep.has(name) && value !== undefined) headers[name] = value;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
  }
  lines.push(...extra);
  socket.write(lines.join("\r\n") + "\r\n\r\n");
}
