import { FRAGMENT_BYTES, type SecretForm } from "./mask-forms.js";

/**
 * Fragments are looked up by a hash of their 6-byte grams, sampled every STRIDE bytes: any run of
 * FRAGMENT_BYTES holds a whole sampled gram. A bit set of the hashes turns most samples away
 * before a map lookup; a hit is checked byte by byte.
 */
const GRAM = 6;
const STRIDE = FRAGMENT_BYTES - GRAM + 1;
const BITS = 20;
const gramHash = (b: Buffer, i: number) =>
  (Math.imul(b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24), 0x9e3779b1) ^ Math.imul(b[i + 4]! | (b[i + 5]! << 8), 0x85ebca6b)) >>> 2;

export interface Found {
  /** [start, end) of each stretch to conceal, in order, not overlapping. */
  ranges: Array<[number, number]>;
  /** Where the tail that the next write could still turn into a secret begins (data.length: none). */
  hold: number;
  /**
   * Where the tail an idle stream still holds begins: one that could begin a whole form (a tail
   * that could only begin a fragment goes after a short wait: it shows less than a fragment).
   */
  idleHold: number;
}

/** Finds every form of the secrets, and runs of them that are long enough to be fragments. */
export class SecretFinder {
  /** Forms found only whole (too short for fragments), longest first. */
  private readonly whole: Buffer[];
  private readonly fragmentForms: SecretForm[];
  private readonly grams = new Map<number, Array<[SecretForm, number]>>();
  private readonly gramBits = new Uint32Array(1 << (BITS - 5));
  private readonly firstBytes = new Uint8Array(256);
  private readonly longestFragment: number;
  readonly longest: number;

  constructor(private readonly forms: readonly SecretForm[]) {
    this.whole = forms.filter((f) => f.fragment === 0).map((f) => f.bytes).sort((a, b) => b.length - a.length);
    this.fragmentForms = forms.filter((f) => f.fragment > 0);
    this.longest = Math.max(0, ...forms.map((f) => f.bytes.length));
    this.longestFragment = Math.max(0, ...this.fragmentForms.map((f) => f.fragment));
    for (const form of forms) this.firstBytes[form.bytes[0]!] = 1;
    for (const form of this.fragmentForms) {
      for (let at = form.fragmentFrom; at + GRAM <= form.bytes.length; at++) {
        const key = gramHash(form.bytes, at);
        this.gramBits[(key & ((1 << BITS) - 1)) >>> 5]! |= 1 << (key & 31);
        const list = this.grams.get(key);
        if (list) list.push([form, at]);
        else this.grams.set(key, [[form, at]]);
      }
    }
  }

  find(data: Buffer, final: boolean): Found {
    const ranges: Array<[number, number]> = [];
    for (const w of this.whole) for (let i = data.indexOf(w); i !== -1; i = data.indexOf(w, i + 1)) ranges.push([i, i + w.length]);
    let open = data.length;
    let covered = 0;
    for (let p = 0; p + GRAM <= data.length; p += STRIDE) {
      if (p < covered) continue;
      const key = gramHash(data, p);
      if (!(this.gramBits[(key & ((1 << BITS) - 1)) >>> 5]! & (1 << (key & 31)))) continue;
      for (const [form, at] of this.grams.get(key) ?? []) {
        const [start, end, from] = extend(data, p, form.bytes, at);
        if (end - p < GRAM) continue; // another gram with the same hash
        if (from + end - start - Math.max(from, form.fragmentFrom) < form.fragment) continue;
        ranges.push([start, end]);
        covered = Math.max(covered, end);
        // Written whole it may go on: the next write decides where it ends.
        if (end === data.length && from + end - start < form.bytes.length) open = Math.min(open, start);
      }
    }
    const merged = mergeRanges(ranges);
    if (final) return { ranges: merged, hold: data.length, idleHold: data.length };
    const idleHold = this.formPrefixTail(data);
    return { ranges: merged, hold: Math.min(idleHold, open, this.fragmentTail(data)), idleHold };
  }

  /** Where the longest tail that begins some form starts; data.length if none. */
  private formPrefixTail(data: Buffer): number {
    for (let start = Math.max(0, data.length - this.longest + 1); start < data.length; start++) {
      if (!this.firstBytes[data[start]!]) continue;
      const length = data.length - start;
      if (this.forms.some((f) => f.bytes.length > length && f.bytes.compare(data, start, data.length, 0, length) === 0)) return start;
    }
    return data.length;
  }

  /** Where the longest tail too short to be a fragment, but that could begin one, starts; data.length if none. */
  private fragmentTail(data: Buffer): number {
    for (let length = Math.min(this.longestFragment - 1, data.length); length > 0; length--) {
      const tail = data.subarray(data.length - length);
      if (this.fragmentForms.some((f) => f.fragment > length && f.bytes.indexOf(tail, f.fragmentFrom) !== -1)) return data.length - length;
    }
    return data.length;
  }
}

/** The longest run through data[p] equal to form[at] on, both ways: [start, end) in data and where it begins in the form. */
function extend(data: Buffer, p: number, form: Buffer, at: number): [number, number, number] {
  let end = p;
  while (end < data.length && at + end - p < form.length && data[end] === form[at + end - p]) end++;
  if (end - p < GRAM) return [p, end, at];
  let start = p;
  let from = at;
  while (start > 0 && from > 0 && data[start - 1] === form[from - 1]) [start, from] = [start - 1, from - 1];
  return [start, end, from];
}

/** Sorted, with overlapping and touching ranges joined. */
export function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}
