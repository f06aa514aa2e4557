/**
 * A tiny seeded PRNG (mulberry32) for reproducible fuzz and crash tests: the same seed gives the
 * same sequence on every machine. Print the seed in the test name so a failure can be replayed
 * with `AUTHCTL_FUZZ_SEED=<seed>`.
 */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [min, max]. */
  range(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A string of `length` characters drawn from `alphabet` (code points, so astral chars stay whole). */
  string(length: number, alphabet?: string): string;
  bytes(length: number): Buffer;
  /** A child generator whose sequence depends only on this one's seed and `salt`. */
  fork(salt: number): Rng;
}

export const ASCII_PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
/** Awkward characters: controls, separators, quotes, YAML/JSON syntax, non-ASCII, astral, BOM. */
export const NASTY = "\u0000\u0001\u0007\b\t\n\r\u001b\u007f\u0085\u00a0\u2028\u2029\ufeff\u200b:;,/\\'\"`$%&*!?#@{}[]<>|~^=+-_.é漢🙂\ud800";

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  const self: Rng = {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    range: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    string(length, alphabet = ASCII_PRINTABLE) {
      const chars = Array.from(alphabet);
      let out = "";
      for (let i = 0; i < length; i++) out += chars[Math.floor(next() * chars.length)];
      return out;
    },
    bytes(length) {
      const buf = Buffer.alloc(length);
      for (let i = 0; i < length; i++) buf[i] = Math.floor(next() * 256);
      return buf;
    },
    fork: (salt) => rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(salt, 0xc2b2ae35)) >>> 0),
  };
  return self;
}

/** The seed from `AUTHCTL_FUZZ_SEED` when set (to replay a failure), else the fixed default. */
export function seedFromEnv(fallback: number, name = "AUTHCTL_FUZZ_SEED"): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback >>> 0;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name}=${raw} is not an integer seed`);
  return n >>> 0;
}

/**
 * Runs `body(i)` up to `maxCount` times or until `maxMs` has passed, whichever comes first
 * (the time bound keeps slow machines in budget; the sequence itself only depends on the seed).
 * Returns how many iterations ran.
 */
export function boundedLoop(maxCount: number, maxMs: number, body: (i: number) => void): number {
  const started = Date.now();
  let i = 0;
  for (; i < maxCount; i++) {
    if (i > 0 && Date.now() - started > maxMs) break;
    body(i);
  }
  return i;
}

export async function boundedLoopAsync(maxCount: number, maxMs: number, body: (i: number) => Promise<void>): Promise<number> {
  const started = Date.now();
  let i = 0;
  for (; i < maxCount; i++) {
    if (i > 0 && Date.now() - started > maxMs) break;
    await body(i);
  }
  return i;
}
