import { type IncomingHttpHeaders, type OutgoingHttpHeaders, validateHeaderName, validateHeaderValue } from "node:http";
import net, { isIP, type Socket } from "node:net";
import { PassThrough, Writable } from "node:stream";
import tls from "node:tls";
import type { ForwardLimits } from "./forward.js";
import type { ResolvedRoute } from "./routes.js";

/**
 * An upstream's answer as the proxy reads it: status, headers and the body's bytes with the
 * upstream's framing taken off, one write per read of the socket. node:http's client hands a
 * streamed answer over one small chunk at a time (an SSE event each), and that per-chunk work
 * was most of the proxy's CPU; here a 64 KiB read of many chunks is one event.
 */
export interface UpstreamAnswer extends PassThrough {
  statusCode: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /**
   * Set by a consumer (synchronously, on `response`) that takes the body's bytes straight from the
   * connection's reused read buffer instead of through the stream: it must be done with them when
   * it returns true; false means it still holds them (a write the kernel did not take at once),
   * and the connection reads nothing more until it calls `resume`. Without a sink the stream gets a copy.
   */
  sink: ((bytes: Buffer, resume: () => void) => boolean) | null;
}

/** Who gets an upstream connection's reads: the answer being read, or the pool's drop while idle. */
const READER = Symbol("authctl.upstreamReader");
type UpstreamSocket = Socket & { [READER]?: (data: Buffer) => void };

/**
 * Each upstream connection reads into one buffer of its own, reused for every read: by default
 * node allocates a new ArrayBuffer per read, and at 64 KiB each their scavenges were a tenth of
 * the relay's CPU. Whoever a read is handed to is done with its bytes before the next read.
 */
const READ_BUFFER_BYTES = 64 * 1024;
function dial(https: boolean, options: net.TcpNetConnectOpts & tls.ConnectionOptions): UpstreamSocket {
  const onread: net.OnReadOpts = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback: (length, buffer) => {
      const reader = socket[READER];
      // Bytes nobody asked for (between answers) make the connection unusable.
      if (reader) reader((buffer as Buffer).subarray(0, length));
      else socket.destroy();
      return true;
    },
  };
  // tls.connect takes `onread` as net.connect does (its types leave it out).
  const socket: UpstreamSocket = https ? tls.connect({ ...options, onread } as tls.ConnectionOptions) : net.connect({ ...options, onread });
  return socket;
}

/** As node:http's default: an upstream whose status line and headers run past this is refused. */
const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (with its extensions) or trailer section longer than this is a broken answer. */
const MAX_LINE_BYTES = 4 * 1024;
/** Idle upstream connections are closed before a usual server keep-alive (5 s) ends them under a request. */
const POOL_IDLE_MS = 4_000;
/** However long an upstream says it keeps an idle connection, the pool holds one at most this long. */
const POOL_IDLE_MAX_MS = 60_000;

/**
 * How long the pool may keep this answer's connection idle: a second less than the upstream's own
 * `Keep-Alive: timeout=N` (so it is never reused as the upstream closes it), else POOL_IDLE_MS.
 */
function idleLimit(headers: IncomingHttpHeaders): number {
  const timeout = /(?:^|[,;\s])timeout=(\d{1,6})(?![\d.])/i.exec(String(headers["keep-alive"] ?? ""))?.[1];
  return timeout === undefined ? POOL_IDLE_MS : Math.min(POOL_IDLE_MAX_MS, Number(timeout) * 1000 - 1000);
}
/** Two listeners of 128 connections each (server.ts) can have this many answers in flight: all their connections are kept. */
const POOL_MAX_IDLE = 256;

/** Kept-alive upstream connections by origin; each was checked by the upstream guard when it connected. */
export class UpstreamPool {
  private readonly idle = new Map<string, Socket[]>();

  take(origin: string): Socket | undefined {
    const list = this.idle.get(origin);
    for (let socket = list?.pop(); socket; socket = list?.pop()) if (!socket.destroyed && socket.readyState === "open") return socket;
    return undefined;
  }

  give(origin: string, socket: Socket, idleMs = POOL_IDLE_MS): void {
    const list = this.idle.get(origin) ?? [];
    if (list.length >= POOL_MAX_IDLE || idleMs <= 0) return void socket.destroy();
    this.idle.set(origin, list);
    list.push(socket);
    socket.setTimeout(idleMs);
    // An idle connection the upstream closes (or that says anything unasked) leaves the pool.
    const drop = () => {
      const at = list.indexOf(socket);
      if (at !== -1) list.splice(at, 1);
      socket.destroy();
    };
    (socket as UpstreamSocket)[READER] = drop;
    socket.once("close", drop).once("error", drop);
    socket.once("authctl:taken", () => socket.off("close", drop).off("error", drop));
  }
}

/** A route's upstream URL, parsed once per route (the proxy builds each route once). */
const targets = new WeakMap<ResolvedRoute, URL>();
function targetOf(route: ResolvedRoute): URL {
  let target = targets.get(route);
  if (!target) targets.set(route, (target = new URL(route.base_url)));
  return target;
}

type Framing = { kind: "none" } | { kind: "length"; left: number } | { kind: "chunked" } | { kind: "close" };

/** Thrown into the answer (or the request, before one) when the upstream's bytes are not HTTP/1.1 the proxy can relay. */
class BrokenAnswer extends Error {}

function parseHead(head: string): { statusCode: number; statusMessage: string; headers: IncomingHttpHeaders; http10: boolean } {
  const lines = head.split("\r\n");
  const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
  if (!status) throw new BrokenAnswer("the upstream's status line is not HTTP/1.x");
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name) || /[\0\r\n]/.test(line)) throw new BrokenAnswer("the upstream sent a malformed header line");
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    if (name === "set-cookie") headers[name] = [...((had as string[] | undefined) ?? []), value];
    else headers[name] = had === undefined ? value : `${had as string}, ${value}`;
  }
  return { statusCode: Number(status[2]), statusMessage: status[3] ?? "", headers, http10: status[1] === "0" };
}

function framingOf(method: string, statusCode: number, headers: IncomingHttpHeaders): Framing {
  if (method === "HEAD" || statusCode === 204 || statusCode === 304 || statusCode < 200) return { kind: "none" };
  const te = headers["transfer-encoding"];
  if (te !== undefined) {
    // Chunked must be the last coding; anything else has no length the proxy can trust (request smuggling's ground).
    if (!/(?:^|,)\s*chunked\s*$/i.test(String(te)) || headers["content-length"] !== undefined) throw new BrokenAnswer("the upstream's transfer-encoding is not one the proxy relays");
    return { kind: "chunked" };
  }
  const length = headers["content-length"];
  if (length === undefined) return { kind: "close" };
  const values = new Set(String(length).split(",").map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new BrokenAnswer("the upstream's content-length is not one number");
  return { kind: "length", left: Number(only) };
}

/** The request's head, every name and value checked as node:http would (no CR, LF or NUL can split it). */
function requestHead(method: string, target: string, headers: OutgoingHttpHeaders): string {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    validateHeaderName(name);
    for (const v of Array.isArray(value) ? value : [value]) {
      validateHeaderValue(name, String(v));
      head += `${name}: ${String(v)}\r\n`;
    }
  }
  return `${head}connection: keep-alive\r\n\r\n`;
}

/**
 * One request to the route's upstream over a pooled HTTP/1.1 connection, written as a Writable
 * (the request body is piped in, or `end(replay)`), emitting `response` with an UpstreamAnswer
 * and `error` when no answer came. The connection goes back to the pool only when the answer's
 * end was known from its framing and nothing followed it.
 */
export class UpstreamRequest extends Writable {
  private socket: Socket | undefined;
  private reused = false;
  private answer: UpstreamAnswer | undefined;
  private released = false;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly route: ResolvedRoute,
    private readonly method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    private readonly limits: ForwardLimits,
    private readonly bodyless: boolean,
  ) {
    // Not destroyed when the request body ends: the answer is still to come on the socket.
    super({ autoDestroy: false });
    const target = targetOf(route);
    this.origin = target.origin;
    this.head = requestHead(method, target.pathname.replace(/\/+$/, "") + path, { ...headers, host: target.host });
    this.connect(target);
  }

  private readonly origin: string;
  private readonly head: string;

  private connect(target: URL): void {
    let socket = this.pool.take(this.origin);
    this.reused = Boolean(socket);
    if (socket) socket.emit("authctl:taken");
    else {
      const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
      // The name stays the request's host (TLS verifies it); only the address comes from the guard.
      const options = { host: target.hostname.replace(/^\[|\]$/g, ""), port, noDelay: true, ...(this.limits.lookup ? { lookup: this.limits.lookup } : {}) };
      socket = dial(target.protocol === "https:", { ...options, ...(target.protocol === "https:" && !isIP(options.host) ? { servername: options.host } : {}) });
    }
    this.socket = socket;
    if (!this.reused) {
      socket.setNoDelay(true);
      // One handler for the connection's life: a pooled socket is reused many times.
      socket.on("timeout", () => socket.destroy(new Error("upstream timed out")));
    }
    socket.setTimeout(this.limits.upstreamIdleMs);
    this.read(socket);
    // A connection made again after the pooled one closed sends the head the first one got.
    if (!this.headPending) socket.write(this.head, "latin1");
  }

  /** The head waits for the body's first bytes (or its end): one write, one segment upstream, instead of two. */
  private headPending = true;

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return done(new Error("the upstream connection is gone"));
    let flowing: boolean;
    if (this.headPending) {
      this.headPending = false;
      socket.cork();
      socket.write(this.head, "latin1");
      flowing = socket.write(chunk);
      socket.uncork();
    } else flowing = socket.write(chunk);
    if (flowing) done();
    else socket.once("drain", () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.headPending && this.socket && !this.socket.destroyed) {
      this.headPending = false;
      this.socket.write(this.head, "latin1");
    }
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (!this.released) this.socket?.destroy();
    this.answer?.destroy();
    // As node:http's client: a request cut off before its answer reports it, so the proxy answers the client.
    done(error ?? (this.answer ? null : new Error("the request to the upstream was cut off")));
  }

  /** Reads answers off the socket: skips 1xx, then hands the body on without its framing. */
  private read(socket: UpstreamSocket): void {
    let pending: Buffer | undefined;
    let paused = false;
    /** A sink still holds bytes in the read buffer: nothing more may be read into it, by this answer or the next. */
    let held = false;
    /** The connection's return to the pool, when the answer ended while a sink held its last bytes. */
    let release: (() => void) | undefined;
    const resume = () => {
      if (!paused) return;
      paused = held = false;
      if (release) release();
      else if (!this.released) socket.resume();
    };
    const pause = () => {
      paused = true;
      socket.pause();
    };
    this.deliver = (data) => {
      const answer = this.answer!;
      if (data.length === 0 || answer.destroyed) return;
      if (answer.sink) {
        if (!answer.sink(data, resume)) (held = true), pause();
      } else if (!answer.write(Buffer.from(data))) pause();
    };
    let framing: Framing | undefined;
    let chunkLeft = 0;
    /** After a chunk's data, its CRLF; in the last chunk's trailers, until the empty line. */
    let phase: "size" | "data" | "crlf" | "trailers" = "size";
    let got = false;

    const fail = (error: Error) => {
      cleanup();
      socket.destroy();
      if (this.answer) this.answer.destroy(error);
      else this.destroy(error);
    };
    const finish = (rest: number) => {
      const answer = this.answer!;
      cleanup();
      // Bytes after the end, or a close asked for: the connection is not reused.
      if (rest === 0 && !this.closeAfter && !socket.destroyed) {
        this.released = true;
        release = () => {
          release = undefined;
          socket.resume();
          this.pool.give(this.origin, socket, this.idleMs);
        };
        if (!held) release();
      } else socket.destroy();
      answer.end();
    };
    const onData = (data: Buffer) => {
      got = true;
      try {
        let buf = pending ? Buffer.concat([pending, data]) : data;
        pending = undefined;
        while (!framing) {
          const end = buf.indexOf("\r\n\r\n");
          if (end === -1) {
            if (buf.length > MAX_HEAD_BYTES) throw new BrokenAnswer("the upstream's response headers are too large");
            // A copy: the read's buffer is reused.
            pending = Buffer.from(buf);
            return;
          }
          if (end > MAX_HEAD_BYTES) throw new BrokenAnswer("the upstream's response headers are too large");
          const head = parseHead(buf.toString("latin1", 0, end));
          buf = buf.subarray(end + 4);
          if (head.statusCode === 101) throw new BrokenAnswer("the upstream switched protocols unasked");
          if (head.statusCode < 200) continue;
          framing = framingOf(this.method, head.statusCode, head.headers);
          const connection = String(head.headers.connection ?? "").toLowerCase();
          this.idleMs = idleLimit(head.headers);
          this.closeAfter = framing.kind === "close" || /\bclose\b/.test(connection) || (head.http10 && !/\bkeep-alive\b/.test(connection));
          this.answer = Object.assign(new PassThrough({ highWaterMark: 64 * 1024 }), { statusCode: head.statusCode, statusMessage: head.statusMessage, headers: head.headers, sink: null });
          this.answer.on("drain", resume);
          this.answer.once("close", () => {
            if (!this.released) socket.destroy();
          });
          this.emit("response", this.answer);
          if (framing.kind === "none") return finish(buf.length);
        }
        this.body(buf, framing, finish, {
          get: () => [chunkLeft, phase] as const,
          // A copy: the read's buffer is reused.
          set: (left, at, keep) => ((chunkLeft = left), (phase = at), (pending = keep && Buffer.from(keep))),
        });
      } catch (error) {
        fail(error as Error);
      }
    };
    const onEnd = () => {
      if (framing?.kind === "close" && this.answer) return finish(1);
      const error = new Error(this.answer ? "the upstream cut the response short" : "the upstream closed the connection before answering");
      // A kept-alive connection the upstream had closed as it was reused: once more on a fresh one, when nothing was sent that cannot be sent again.
      if (!this.answer && !got && this.reused && this.bodyless && !this.destroyed) {
        cleanup();
        this.reused = false;
        return this.connect(targetOf(this.route));
      }
      fail(error);
    };
    const onError = (error: Error) => {
      if (this.answer) this.answer.destroy(error);
      else if (!got && this.reused && this.bodyless && !this.destroyed) onEnd();
      else this.destroy(error);
    };
    const cleanup = () => {
      socket[READER] = undefined;
      socket.off("end", onEnd).off("close", onEnd).off("error", onError);
    };
    socket[READER] = onData;
    socket.once("end", onEnd).once("close", onEnd).on("error", onError);
  }

  private closeAfter = false;
  private idleMs = POOL_IDLE_MS;
  /** Hands body bytes to the answer's sink, or a copy to its stream; stops reading while they are held. */
  private deliver: (data: Buffer) => void = () => undefined;

  /** The body bytes in `buf` handed to the answer in one write; the framing's state kept across reads. */
  private body(
    buf: Buffer,
    framing: Framing,
    finish: (rest: number) => void,
    state: { get: () => readonly [number, "size" | "data" | "crlf" | "trailers"]; set: (left: number, at: "size" | "data" | "crlf" | "trailers", keep?: Buffer) => void },
  ): void {
    const send = this.deliver;
    if (framing.kind === "close") return void send(buf);
    if (framing.kind === "length") {
      const take = Math.min(framing.left, buf.length);
      framing.left -= take;
      send(buf.subarray(0, take));
      if (framing.left === 0) finish(buf.length - take);
      return;
    }
    let [left, phase] = state.get();
    // The data's [start, end) offsets in `buf`, joined in place: no object per chunk.
    const cuts: number[] = [];
    const out = () => send(joinCuts(buf, cuts));
    let at = 0;
    const n = buf.length;
    while (at < n) {
      if (phase === "data") {
        const take = Math.min(left, n - at);
        cuts.push(at, at + take);
        at += take;
        left -= take;
        if (left === 0) phase = "crlf";
        continue;
      }
      if (phase === "crlf") {
        if (buf[at] !== CR || (at + 1 < n && buf[at + 1] !== LF)) throw new BrokenAnswer("the upstream's chunk did not end where its size said");
        if (at + 1 === n) {
          state.set(left, phase, buf.subarray(at));
          return void out();
        }
        at += 2;
        phase = "size";
        continue;
      }
      if (phase === "size") {
        // Byte by byte: a string, a regex and a search per chunk were the relay's largest cost (SSE events come one per chunk).
        const size = chunkSize(buf, at);
        if (size === undefined) {
          if (n - at > MAX_LINE_BYTES) throw new BrokenAnswer("the upstream sent a chunk line that is too long");
          state.set(left, phase, buf.subarray(at));
          return void out();
        }
        left = size.value;
        at = size.next;
        phase = left === 0 ? "trailers" : "data";
        continue;
      }
      const eol = buf.indexOf("\r\n", at);
      if (eol === -1) {
        if (n - at > MAX_LINE_BYTES) throw new BrokenAnswer("the upstream sent a chunk line that is too long");
        state.set(left, phase, buf.subarray(at));
        return void out();
      }
      const empty = eol === at;
      at = eol + 2;
      if (empty) {
        // The empty line after the last chunk (and its trailers, which are not passed on).
        out();
        return finish(n - at);
      }
    }
    state.set(left, phase);
    out();
  }
}

const CR = 13;
const LF = 10;

/** A hex digit's value, or -1. */
function hexDigit(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/**
 * The chunk-size line at `at` (1 to 12 hex digits, then optionally blanks, `;` and extensions
 * without CR, then CRLF): its value and where the chunk's data starts; undefined while the line
 * is not all here; BrokenAnswer for anything else.
 */
function chunkSize(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let i = at;
  for (let digit = i < buf.length ? hexDigit(buf[i]!) : -1; digit !== -1; digit = i < buf.length ? hexDigit(buf[i]!) : -1) {
    value = value * 16 + digit;
    i++;
  }
  if (i === buf.length) return undefined;
  if (i === at || i - at > 12) throw new BrokenAnswer("the upstream sent a malformed chunk size");
  let blanks = i;
  while (blanks < buf.length && (buf[blanks] === 0x20 || buf[blanks] === 0x09)) blanks++;
  if (blanks === buf.length) return undefined;
  let eol = i;
  if (buf[blanks] === 0x3b) {
    eol = blanks + 1;
    while (eol < buf.length && buf[eol] !== CR && buf[eol] !== LF) eol++;
    if (eol === buf.length) return undefined;
  }
  if (buf[eol] !== CR) throw new BrokenAnswer("the upstream sent a malformed chunk size");
  if (eol + 1 === buf.length) return undefined;
  if (buf[eol + 1] !== LF) throw new BrokenAnswer("the upstream sent a malformed chunk size");
  return { value, next: eol + 2 };
}

/**
 * The bytes at `cuts` ([start, end) pairs) of `buf` as one buffer, moved together inside `buf`
 * (a socket read the proxy owns): Buffer.concat of a read's sixty-odd chunk views cost ten
 * times as much as the parsing.
 */
function joinCuts(buf: Buffer, cuts: number[]): Buffer {
  if (cuts.length === 0) return buf.subarray(0, 0);
  let to = cuts[0]!;
  for (let k = 0; k < cuts.length; k += 2) {
    if (to !== cuts[k]) buf.copyWithin(to, cuts[k]!, cuts[k + 1]!);
    to += cuts[k + 1]! - cuts[k]!;
  }
  return buf.subarray(cuts[0], to);
}
