import { Transform, type TransformCallback } from "node:stream";
import { mergeRanges, SecretFinder, type Found } from "./mask-finder.js";
import { secretForms } from "./mask-forms.js";
import { visibleText, type Sequence } from "./terminal-text.js";

export const CONCEALED = "<concealed by authctl>";
/** How long a stream that went quiet keeps a tail held only because it could begin a fragment. */
const IDLE_FLUSH_MS = 50;
/** Held output beyond twice the longest form (escape sequences inside a partial match): the bound on what a child can make authctl keep. */
const HOLD_SLACK = 8192;

type Pass = "write" | "idle" | "end";

/**
 * Conceals the secrets in a byte stream, like `op run`, in every form a log reader could decode
 * (see secretForms), runs of FRAGMENT_BYTES or more of them, and also when escape sequences
 * (colours, hyperlinks) are written in the middle. A secret split across writes is still caught:
 * a tail that could begin one is held until the next write decides it, or, when it could only
 * begin a fragment, until the stream has been quiet for a moment.
 */
export class SecretMasker extends Transform {
  private readonly secrets: readonly string[];
  private readonly replacement: Buffer;
  // Built on the first byte: most children of `run` write nothing to a masked stream, and every form's grams cost CPU at start.
  private found: { finder: SecretFinder; maxHold: number } | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private idle: NodeJS.Timeout | undefined;

  constructor(secrets: readonly string[], replacement = CONCEALED) {
    super();
    this.secrets = secrets.filter((s) => s.length > 0);
    this.replacement = Buffer.from(replacement, "utf8");
  }

  private searching(): { finder: SecretFinder; maxHold: number } {
    if (!this.found) {
      const finder = new SecretFinder(secretForms(this.secrets));
      this.found = { finder, maxHold: 2 * finder.longest + HOLD_SLACK };
    }
    return this.found;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.stopIdle();
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pass("write");
    if (this.pending.length > 0) this.idle = setTimeout(() => this.pass("idle"), IDLE_FLUSH_MS).unref();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.stopIdle();
    if (this.pending.length > 0) this.pass("end");
    done();
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    this.stopIdle();
    done(error);
  }

  private stopIdle(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
  }

  private pass(pass: Pass): void {
    const data = this.pending;
    const { ranges, hold: found, sequences } = this.search(data, pass);
    let hold = found;
    for (const [s, e] of ranges) if (s < hold && hold < e) hold = s;
    hold = Math.max(hold, data.length - this.searching().maxHold);
    const out: Buffer[] = [];
    let from = 0;
    for (const [s, end] of ranges) {
      if (s >= hold) break;
      const e = Math.min(end, hold);
      out.push(data.subarray(from, s), this.replacement);
      // A colour reset inside a concealed secret still reaches the terminal.
      for (const q of sequences) if (q.start >= s && q.end <= e) out.push(data.subarray(q.start, q.end));
      from = e;
    }
    out.push(data.subarray(from, hold));
    this.pending = Buffer.from(data.subarray(hold));
    const text = Buffer.concat(out);
    if (text.length > 0) this.push(text);
  }

  /** What to conceal in `data` and where its held tail begins, as written and as a terminal shows it. */
  private search(data: Buffer, pass: Pass): { ranges: Array<[number, number]>; hold: number; sequences: Sequence[] } {
    const final = pass === "end";
    const holdOf = (found: Found) => (pass === "idle" ? found.idleHold : found.hold);
    const { finder } = this.searching();
    const raw = finder.find(data, final);
    if (!data.includes(0x1b)) return { ranges: raw.ranges, hold: holdOf(raw), sequences: [] };
    const visible = visibleText(data, final);
    const shown = finder.find(visible.bytes, final);
    return {
      ranges: mergeRanges([...raw.ranges, ...shown.ranges.map(([s, e]): [number, number] => [visible.at(s), visible.at(e - 1) + 1])]),
      hold: Math.min(holdOf(raw), visible.at(holdOf(shown))),
      // Only parameters, and none that is part of a secret written whole.
      sequences: visible.sequences.filter((q) => q.csi && !raw.ranges.some(([s, e]) => s < q.end && q.start < e)),
    };
  }
}
