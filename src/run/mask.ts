import { Transform, type TransformCallback } from "node:stream";

export const CONCEALED = "<concealed by authctl>";

/**
 * Replaces every occurrence of the given secrets in a byte stream, like `op run`: a secret split
 * across two writes is still caught, because a tail that could be the start of a secret is held
 * back until the next chunk (or the end) decides it.
 */
export class SecretMasker extends Transform {
  private readonly needles: Buffer[];
  private readonly replacement: Buffer;
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[], replacement = CONCEALED) {
    super();
    // Longest first, so a secret that contains another is concealed whole.
    this.needles = [...new Set(secrets.filter((s) => s.length > 0))].map((s) => Buffer.from(s, "utf8")).sort((a, b) => b.length - a.length);
    this.replacement = Buffer.from(replacement, "utf8");
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.emit_(false);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.emit_(true);
    done();
  }

  private emit_(final: boolean): void {
    const data = this.pending;
    const out: Buffer[] = [];
    let from = 0;
    for (;;) {
      let at = -1;
      let length = 0;
      for (const needle of this.needles) {
        const i = data.indexOf(needle, from);
        if (i !== -1 && (at === -1 || i < at)) [at, length] = [i, needle.length];
      }
      if (at === -1) break;
      out.push(data.subarray(from, at), this.replacement);
      from = at + length;
    }
    const keep = final ? data.length : this.partialStart(data, from);
    out.push(data.subarray(from, keep));
    this.pending = Buffer.from(data.subarray(keep));
    const text = Buffer.concat(out);
    if (text.length > 0) this.push(text);
  }

  /** Where the longest tail of `data` (after `from`) that begins some secret starts; data.length if none. */
  private partialStart(data: Buffer, from: number): number {
    const longest = this.needles[0]?.length ?? 0;
    for (let start = Math.max(from, data.length - longest + 1); start < data.length; start++) {
      const tail = data.subarray(start);
      if (this.needles.some((n) => n.length > tail.length && n.subarray(0, tail.length).equals(tail))) return start;
    }
    return data.length;
  }
}
