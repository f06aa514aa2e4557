import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import https from "node:https";
import type { LookupFunction, Socket } from "node:net";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";
import { credentialHeader, forwardableHeaders, type ResolvedRoute } from "./routes.js";

/** A request body bigger than this is refused (413) and never fully read. */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Bodies up to this size are kept so the request can be sent once more after a refresh. */
const REPLAY_LIMIT = 8 * 1024 * 1024;

export interface ForwardLimits {
  maxRequestBytes: number;
  /** An upstream silent for this long (no bytes either way) is cut off. */
  upstreamIdleMs: number;
  /** Resolves and checks the upstream name once per connection (upstreamGuard.ts). */
  lookup?: LookupFunction;
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
 * The real secret sent upstream and the phantom the client knows it by: whatever the proxy
 * returns carries the phantom where an upstream echoed the secret (a debug endpoint, an error
 * message quoting the header).
 */
export interface Scrub {
  secret: Buffer;
  phantom: Buffer;
  /** The same as text, for status lines and headers (each answer's are scrubbed). */
  secretText: string;
  phantomText: string;
}

export const scrubFor = (secret: string, phantom: string): Scrub | undefined =>
  secret ? { secret: Buffer.from(secret), phantom: Buffer.from(phantom), secretText: secret, phantomText: phantom } : undefined;

export function scrubText(text: string, scrub: Scrub | undefined): string {
  return scrub && text.includes(scrub.secretText) ? text.split(scrub.secretText).join(scrub.phantomText) : text;
}

/**
 * Replaces every whole secret in `data`. Unless `final`, the longest tail that the next chunk could
 * complete into the secret is held back as `carry`: a secret cut across two chunks is still found.
 */
export function scrubChunk(data: Buffer, scrub: Scrub, final: boolean): { out: Buffer; carry?: Buffer } {
  const { secret, phantom } = scrub;
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = data.indexOf(secret); at !== -1; at = data.indexOf(secret, from)) {
    parts.push(data.subarray(from, at), phantom);
    from = at + secret.length;
  }
  let keep = data.length;
  for (let at = Math.max(from, data.length - secret.length + 1); !final && at < data.length; at++) {
    if (data[at] === secret[0] && data.subarray(at).equals(secret.subarray(0, data.length - at))) {
      keep = at;
      break;
    }
  }
  parts.push(data.subarray(from, keep));
  return { out: parts.length === 1 ? parts[0]! : Buffer.concat(parts), ...(keep < data.length ? { carry: data.subarray(keep) } : {}) };
}

/**
 * Joins the chunks that one read of the upstream socket yields (an SSE stream arrives as many
 * small chunks) into one write to the client: one chunk header and one syscall instead of dozens.
 * Flushed before the next I/O turn, so no event waits (only a tail that may begin the secret
 * waits for the next chunk); scrubs the secret; counts the bytes sent for the audit.
 * Used as a Transform (a WebSocket bridge), or with `relay` straight from a body to a response.
 */
export class ChunkJoiner extends Transform {
  bytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private sink: (joined: Buffer) => void = (joined) => void this.push(joined);

  constructor(private readonly scrub?: Scrub) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.add(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.release(true);
    done();
  }

  /**
   * Writes `body` to `res` joined and scrubbed, read by a plain listener with its own backpressure
   * instead of through this Transform and a pipeline: at a thousand small upstream chunks per MB,
   * their per-chunk bookkeeping was a large share of the proxy's CPU. `done` is called once, when
   * the client has the whole body or either side is gone.
   */
  relay(body: Readable, res: ServerResponse, done: (bytes: number) => void, count?: (bytes: number) => void): this {
    let ended = false;
    let finished = false;
    const finish = () => {
      if (!finished) (finished = true), done(this.bytes);
    };
    this.sink = (joined) => {
      if (!res.destroyed && !res.write(joined) && !ended) {
        body.pause();
        res.once("drain", () => body.resume());
      }
    };
    if (takesSink(body)) {
      body.sink = (chunk, resume) => {
        count?.(chunk.length);
        return res.destroyed || this.direct(chunk, res, resume);
      };
      // Nothing flows through the stream itself; flowing, it still ends.
      body.resume();
    } else
      body.on("data", (chunk: Buffer) => {
        count?.(chunk.length);
        if (!res.destroyed) this.add(chunk);
      });
    body.once("end", () => {
      ended = true;
      this.release(true);
      res.end(finish);
    });
    const abandon = () => {
      if (ended) return;
      res.destroy();
      finish();
    };
    body.once("error", abandon);
    body.once("close", abandon);
    res.once("close", () => {
      if (!res.writableFinished) body.destroy();
      finish();
    });
    return this;
  }

  /**
   * One read of the upstream, in the read buffer the connection reuses: scrubbed and written now
   * (a tail that may begin the secret copied and kept for the next read). True when the client's
   * socket took it all at once; else it still refers to the buffer, and `resume` is called once written.
   */
  private direct(chunk: Buffer, res: ServerResponse, resume: () => void): boolean {
    let data = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      data = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (this.scrub) {
      const { out, carry } = scrubChunk(data, this.scrub, false);
      data = out;
      if (carry) (this.pending = [Buffer.from(carry)]), (this.pendingBytes = carry.length);
    }
    this.bytes += data.length;
    if (data.length === 0) return true;
    res.write(data, resume);
    // node:http corks the socket until the next tick: written now, whether the kernel took it all is known before the next read.
    res.socket?.uncork();
    return res.writableLength === 0;
  }

  private add(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.release(false));
    }
  }

  private release(final: boolean): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    let joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.scrub) {
      const { out, carry } = scrubChunk(joined, this.scrub, final);
      joined = out;
      if (carry) {
        this.pending.push(carry);
        this.pendingBytes = carry.length;
      }
    }
    this.bytes += joined.length;
    if (joined.length) this.sink(joined);
  }
}

/** An upstream's answer: node:http's, or the proxy's own reader's (upstreamClient.ts). */
export type UpstreamResponse = Readable & { statusCode?: number; statusMessage?: string; headers: IncomingHttpHeaders };

/** The proxy's own reader's answer, whose body can go to a sink straight from the connection's read buffer. */
type SinkBody = Readable & { sink: ((bytes: Buffer, resume: () => void) => boolean) | null };
const takesSink = (body: Readable): body is SinkBody => "sink" in body;

/**
 * The upstream's body as plain bytes the scrubber can read (an upstream that ignored the request
 * for identity gets decoded); undefined for an encoding the proxy cannot decode.
 */
export function decodedBody(res: UpstreamResponse): Readable | undefined {
  const encoding = String(res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (encoding === "identity" || encoding === "") return res;
  const decoder =
    encoding === "gzip" || encoding === "x-gzip"
      ? zlib.createGunzip()
      : encoding === "deflate"
        ? zlib.createInflate()
        : encoding === "br"
          ? zlib.createBrotliDecompress()
          : undefined;
  if (!decoder) return undefined;
  res.once("error", (error) => decoder.destroy(error));
  return res.pipe(decoder);
}

/** Answers without a body: their headers describe one (the content-length of a HEAD) and pass as they are. */
const bodiless = (method: string | undefined, status: number) => method === "HEAD" || status === 204 || status === 304 || status < 200;

/**
 * Passes an upstream answer on with the secret scrubbed from its status line, headers and body.
 * The body goes out decoded and without its content-length (the scrub may change it); one in an
 * encoding the proxy cannot read is refused with 502. Returns what counts the bytes sent.
 */
export function sendScrubbed(
  method: string | undefined,
  upstreamRes: UpstreamResponse,
  res: ServerResponse,
  scrub: Scrub | undefined,
  done: (status: number, bytes: number) => void,
  count?: (bytes: number) => void,
): ChunkJoiner {
  const status = upstreamRes.statusCode ?? 502;
  const headers = responseHeaders(upstreamRes.headers, scrub);
  const joiner = new ChunkJoiner(scrub);
  const body = bodiless(method, status) ? undefined : decodedBody(upstreamRes);
  if (!body && !bodiless(method, status)) {
    upstreamRes.destroy();
    sendJson(res, 502, { error: { type: "authctl_proxy", message: `authctl proxy: the upstream answered in an encoding the proxy cannot read (${String(upstreamRes.headers["content-encoding"]).slice(0, 32)})` } });
    done(502, 0);
    return joiner;
  }
  if (body) {
    delete headers["content-length"];
    delete headers["content-encoding"];
  }
  res.writeHead(status, scrubText(upstreamRes.statusMessage ?? "", scrub), headers);
  // A body already read goes out with the headers in one write; a stream whose first event is not
  // here yet still gets its headers at once (later in this loop turn, never a timer away).
  setImmediate(() => joiner.bytes === 0 && !res.writableEnded && !res.destroyed && res.flushHeaders());
  const relayed = body ?? upstreamRes;
  // The upstream's bytes are counted as they arrive, before a decoder's.
  if (count && relayed !== upstreamRes) upstreamRes.on("data", (chunk: Buffer) => count(chunk.length));
  return joiner.relay(relayed, res, (bytes) => done(status, bytes), relayed === upstreamRes ? count : undefined);
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
    // The name stays the request's host (TLS verifies it); only the address comes from the guard.
    ...(limits.lookup ? { lookup: limits.lookup } : {}),
  });
  req.on("timeout", () => req.destroy(new Error("upstream timed out")));
  return req;
}

export function headersFor(route: ResolvedRoute, incoming: IncomingHttpHeaders, secret: string, upgrade = false): OutgoingHttpHeaders {
  const headers = forwardableHeaders(incoming, { dropCredentials: true, keepUpgrade: upgrade });
  const [name, value] = credentialHeader(route, secret);
  headers[name] = value;
  // The answer must arrive in a form the proxy can read: a compressed body could hide an echoed secret
  // (so could a compressed WebSocket frame: no extension is offered upstream).
  headers["accept-encoding"] = "identity";
  delete headers["sec-websocket-extensions"];
  return headers;
}

/** The upstream's response headers minus hop-by-hop ones, the secret replaced (in names too: they arrive lower-cased). */
export function responseHeaders(headers: IncomingHttpHeaders, scrub?: Scrub): OutgoingHttpHeaders {
  const out = forwardableHeaders(headers);
  if (!scrub) return out;
  const secretName = scrub.secretText.toLowerCase();
  const scrubbed: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(out)) {
    const safeName = name.includes(secretName) ? name.split(secretName).join(scrub.phantomText.toLowerCase()) : name;
    scrubbed[safeName] = Array.isArray(value) ? value.map((v) => scrubText(v, scrub)) : typeof value === "string" ? scrubText(value, scrub) : value;
  }
  return scrubbed;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text), connection: "close" });
  res.end(text);
}

/** The same refusal on a raw socket (an upgrade request has no ServerResponse). */
export function refuseSocket(socket: Socket, status: number, reason: string, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  if (!socket.writable) return void socket.destroy();
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n${extra}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/**
 * Writes an upstream's handshake answer (101 or a refusal) onto a raw client socket. A refusal's
 * body follows decoded and scrubbed, so its length is told by the connection's close.
 */
export function writeRawHead(socket: Socket, res: IncomingMessage, extra: string[] = [], scrub?: Scrub): void {
  const lines = [`HTTP/1.1 ${res.statusCode} ${scrubText(res.statusMessage ?? "", scrub)}`];
  const keep = res.statusCode === 101 ? new Set(["connection", "upgrade"]) : new Set<string>();
  const headers = { ...responseHeaders(res.headers, scrub) };
  if (res.statusCode !== 101) {
    delete headers["content-length"];
    delete headers["content-encoding"];
  }
  for (const [name, value] of Object.entries(res.headers)) if (keep.has(name) && typeof value === "string") headers[name] = scrubText(value, scrub);
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
  }
  lines.push(...extra);
  socket.write(lines.join("\r\n") + "\r\n\r\n");
}
