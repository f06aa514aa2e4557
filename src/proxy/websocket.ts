import type { Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";
import { type Scrub, scrubChunk } from "./forward.js";

/** A frame bigger than this is not held to be scrubbed: the bridge is closed instead. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Control frames (close, ping, pong) carry at most this much (RFC 6455 §5.5). */
const MAX_CONTROL_PAYLOAD = 125;

function frameHeader(first: number, length: number): Buffer {
  if (length < 126) return Buffer.from([first, length]);
  const wide = length >= 0x10000;
  const header = Buffer.alloc(wide ? 10 : 4);
  header[0] = first;
  header[1] = wide ? 127 : 126;
  if (wide) header.writeBigUInt64BE(BigInt(length), 2);
  else header.writeUInt16BE(length, 2);
  return header;
}

/**
 * What an upstream sends over a WebSocket bridge, with the secret replaced by the phantom frame by
 * frame: a frame that holds it gets a new payload and a header with the new length; every other
 * frame passes as it came, as soon as it is whole. A compressed frame (the extension offer is
 * withheld from the upstream), a masked one (a server never masks) or one over 16 MiB ends the
 * bridge. A secret cut across two fragments of one message is not found.
 */
class WebSocketScrubber extends Transform {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes the next frame needs before it can be read. */
  private needed = 2;

  constructor(private readonly scrub: Scrub) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.needed) return done();
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const frame = this.frameAt(data, at, out);
      if (frame instanceof Error) return done(frame);
      if (frame === undefined) break;
      at = frame;
    }
    this.chunks = at < data.length ? [data.subarray(at)] : [];
    this.size = data.length - at;
    if (out.length) this.push(out.length === 1 ? out[0]! : Buffer.concat(out));
    done();
  }

  /** Reads the frame at `at` into `out`; its end, undefined while it is incomplete, or why the bridge must end. */
  private frameAt(data: Buffer, at: number, out: Buffer[]): number | Error | undefined {
    this.needed = 2;
    if (data.length - at < 2) return undefined;
    const [first, second] = [data[at]!, data[at + 1]!];
    if (first & 0x70 || second & 0x80) return new Error("authctl proxy: the upstream sent a compressed or masked WebSocket frame");
    const code = second & 0x7f;
    const headerBytes = code === 126 ? 4 : code === 127 ? 10 : 2;
    this.needed = headerBytes;
    if (data.length - at < headerBytes) return undefined;
    const length = code === 126 ? data.readUInt16BE(at + 2) : code === 127 ? Number(data.readBigUInt64BE(at + 2)) : code;
    if (length > MAX_FRAME_BYTES) return new Error("authctl proxy: a WebSocket frame from the upstream is too large to scrub");
    this.needed = headerBytes + length;
    if (data.length - at < this.needed) return undefined;
    const end = at + this.needed;
    const payload = data.subarray(at + headerBytes, end);
    if (payload.indexOf(this.scrub.secret) === -1) out.push(data.subarray(at, end));
    else {
      let scrubbed = scrubChunk(payload, this.scrub, true).out;
      if (first & 0x08) scrubbed = scrubbed.subarray(0, MAX_CONTROL_PAYLOAD);
      out.push(frameHeader(first, scrubbed.length), scrubbed);
    }
    this.needed = 2;
    return end;
  }
}

/** How long a client cut off at its budget has to answer the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;
/** 1008 "policy violation" (RFC 6455 §7.4.1). */
const POLICY_VIOLATION = 1008;
const BUDGET_RULE = "session.max_bytes";

/** A close frame as a server sends it (unmasked); the reason is ASCII and short enough for a control frame. */
function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason.slice(0, MAX_CONTROL_PAYLOAD - 2))]);
  return Buffer.concat([frameHeader(0x88, payload.length), payload]);
}

/** Passes chunks on while the shared budget holds them; the chunk that would overrun it, and all after, are dropped. */
class BudgetGate extends Transform {
  constructor(private readonly allows: (bytes: number) => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    done(null, this.allows(chunk.length) ? chunk : undefined);
  }
}

export interface BridgeOptions {
  /** What the client sent after its handshake, and the upstream after its 101. */
  head: Buffer;
  upstreamHead: Buffer;
  /** The real secret to replace in what the upstream sends; none when there is no secret. */
  scrub: Scrub | undefined;
  /** What the session's byte budget still allows (Infinity without one). */
  budget: number;
}

export interface BridgeEnd {
  /** Bytes that arrived from the client and from the upstream, relayed or not. */
  bytesIn: number;
  bytesOut: number;
  /** Set when the bridge was cut at the session's byte budget: the rule, and why, for the audit line. */
  spent?: { rule: string; message: string };
}

/**
 * Relays an upgraded WebSocket connection both ways, the upstream's frames scrubbed. A session's
 * byte budget holds within the bridge as it does within an HTTP answer: bytes count as they cross,
 * in both directions, and the first chunk that would overrun the budget is not relayed. Then the
 * upstream's connection ends, and the client gets a close frame 1008 naming the rule: only whole
 * frames reach it through the scrubber, so the close frame lands on a frame boundary (without a
 * scrubber its socket just ends). `onEnd` runs once, when the client's socket has closed.
 */
export function bridgeWebSocket(client: Socket, upstream: Socket, options: BridgeOptions, onEnd: (end: BridgeEnd) => void): void {
  const { scrub, budget } = options;
  let bytesIn = options.head.length;
  let bytesOut = options.upstreamHead.length;
  let relayed = 0;
  let spent: BridgeEnd["spent"];
  const limited = budget !== Infinity;
  const fromUpstream = scrub ? new WebSocketScrubber(scrub) : undefined;
  fromUpstream?.on("error", () => (client.destroy(), upstream.destroy()));
  const gateDown = limited ? new BudgetGate((bytes) => take(bytes)) : undefined;
  const gateUp = limited ? new BudgetGate((bytes) => take(bytes)) : undefined;
  // upstream → [budget] → [scrubber] → client, and client → [budget] → upstream.
  const upstreamInto = gateDown ?? fromUpstream ?? client;
  const intoClient = fromUpstream ?? gateDown;

  function cut(): void {
    const message = `authctl proxy: this session has used its byte budget (${BUDGET_RULE}), so its WebSocket was closed; mint a new session for more`;
    spent = { rule: BUDGET_RULE, message };
    upstream.unpipe();
    // unpipe() pauses: the client's answer to the close frame, and its end, must still be read (and go nowhere).
    client.unpipe().resume();
    intoClient?.unpipe(client);
    upstream.destroy();
    if (fromUpstream) client.end(closeFrame(POLICY_VIOLATION, `${BUDGET_RULE}: the session's byte budget is spent`));
    else client.end();
    setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Counts a chunk against the budget; false once it would overrun it (the bridge is then cut). */
  function take(bytes: number): boolean {
    if (spent) return false;
    if (relayed + bytes > budget) {
      cut();
      return false;
    }
    relayed += bytes;
    return true;
  }

  client.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
  upstream.on("data", (chunk: Buffer) => (bytesOut += chunk.length));
  upstream.on("error", () => client.destroy());
  // A cut upstream closes while the client still reads its close frame.
  upstream.on("close", () => spent || client.destroy());
  client.once("close", () => {
    upstream.destroy();
    onEnd({ bytesIn, bytesOut, ...(spent ? { spent } : {}) });
  });

  if (gateDown && fromUpstream) gateDown.pipe(fromUpstream);
  intoClient?.pipe(client);
  if (options.upstreamHead.length) upstreamInto.write(options.upstreamHead);
  if (options.head.length) (gateUp ?? upstream).write(options.head);
  upstream.pipe(upstreamInto);
  if (gateUp) client.pipe(gateUp).pipe(upstream);
  else client.pipe(upstream);
}
