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
export class WebSocketScrubber extends Transform {
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
