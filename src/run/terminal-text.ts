const ESC = 0x1b;
/** An unfinished escape sequence longer than this is taken as text: holding it would let a child grow authctl's buffer. */
const MAX_SEQUENCE = 4096;

export interface Sequence {
  start: number;
  end: number;
  /** CSI (colours, cursor moves): parameters only, harmless to pass on. */
  csi: boolean;
}

/** What a terminal shows of some output: the text without its escape sequences. */
export interface VisibleText {
  bytes: Buffer;
  sequences: Sequence[];
  /** Where an escape sequence that the next write would finish begins (the output's length: none). */
  unfinished: number;
  /** Index in the output of bytes[i]; of the end of the output for bytes.length. */
  at(i: number): number;
}

const within = (byte: number | undefined, low: number, high: number) => byte !== undefined && byte >= low && byte <= high;

/** The end of the escape sequence at `i` (data[i] is ESC), or -1 when the data ends before it does. */
function sequenceEnd(data: Buffer, i: number): number {
  const kind = data[i + 1];
  if (kind === undefined) return -1;
  let j = i + 2;
  if (kind === 0x5b) {
    // CSI: parameter bytes, intermediate bytes, one final byte
    while (within(data[j], 0x30, 0x3f)) j++;
    while (within(data[j], 0x20, 0x2f)) j++;
    if (j >= data.length) return -1;
    return within(data[j], 0x40, 0x7e) ? j + 1 : j;
  }
  if (kind === 0x5d || kind === 0x50 || kind === 0x58 || kind === 0x5e || kind === 0x5f) {
    // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \); another ESC cancels it
    for (; j < data.length; j++) {
      if (data[j] === 0x07) return j + 1;
      if (data[j] === ESC) return j + 1 >= data.length ? -1 : data[j + 1] === 0x5c ? j + 2 : j;
    }
    return -1;
  }
  if (within(kind, 0x20, 0x2f)) {
    // e.g. ESC ( B: intermediates, then one final byte
    j = i + 1;
    while (within(data[j], 0x20, 0x2f)) j++;
    return j >= data.length ? -1 : j + 1;
  }
  return within(kind, 0x30, 0x7e) ? i + 2 : i + 1;
}

/**
 * Splits output into what a terminal or a CI log viewer shows and the escape sequences it acts
 * on, so a secret with a colour code in the middle is still found. `final`: no more output comes,
 * an unfinished sequence is text.
 */
export function visibleText(data: Buffer, final: boolean): VisibleText {
  const sequences: Sequence[] = [];
  const spans: Buffer[] = [];
  /** Where in the output each span of visible text begins, and where in `bytes`. */
  const from: number[] = [];
  const to: number[] = [];
  let length = 0;
  let unfinished = data.length;
  const take = (start: number, end: number) => {
    if (end <= start) return;
    from.push(start);
    to.push(length);
    spans.push(data.subarray(start, end));
    length += end - start;
  };
  let text = 0;
  for (let i = data.indexOf(ESC); i !== -1 && i < data.length; i = data.indexOf(ESC, i)) {
    const end = sequenceEnd(data, i);
    if (end === -1 && !final && data.length - i <= MAX_SEQUENCE) {
      unfinished = i;
      break;
    }
    if (end === -1) {
      i++; // taken as text
      continue;
    }
    take(text, i);
    sequences.push({ start: i, end, csi: data[i + 1] === 0x5b });
    text = i = end;
  }
  take(text, unfinished);
  const at = (i: number) => {
    if (i >= length) return unfinished;
    let [low, high] = [0, to.length - 1]; // the last span that begins at or before i
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (to[mid]! <= i) low = mid;
      else high = mid - 1;
    }
    return from[low]! + i - to[low]!;
  };
  return { bytes: Buffer.concat(spans, length), sequences, unfinished, at };
}
