import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** What the first chained line ever follows when nothing came before it. */
export const GENESIS = "0".repeat(64);
/** The store subkey that signs checkpoints: only a holder of the store key can make one. */
export const CHECKPOINT_KEY_LABEL = "audit-checkpoint";

/** SHA-256 of a line's exact bytes, without its newline. */
export const lineHash = (line: Buffer | string): string => createHash("sha256").update(line).digest("hex");

/** The mac covers the checkpoint's place in the chain and the head it vouches for. */
export function checkpointMac(key: Buffer, seq: number, prev: string, time: string): string {
  return createHmac("sha256", key).update(`authctl:audit-checkpoint:v1\0${seq}\0${prev}\0${time}`).digest("hex");
}

export function macMatches(key: Buffer, line: { seq: number; prev: string; time?: unknown; mac?: unknown }): boolean {
  if (typeof line.mac !== "string" || typeof line.time !== "string" || !/^[0-9a-f]{64}$/.test(line.mac)) return false;
  return timingSafeEqual(Buffer.from(checkpointMac(key, line.seq, line.prev, line.time), "hex"), Buffer.from(line.mac, "hex"));
}

/** The fields every chained line starts with; a line without them was written before the chain. */
export interface ChainFields {
  seq: number;
  prev: string;
  type?: string;
  time?: string;
  mac?: string;
}

export function chainFields(line: Buffer | string): ChainFields | undefined {
  try {
    const value = JSON.parse(line.toString()) as Partial<ChainFields> | null;
    return value && typeof value.seq === "number" && typeof value.prev === "string" ? (value as ChainFields) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The rotated files, oldest first, then the live one: `audit.jsonl` rotates to `audit.000001.jsonl`,
 * `audit.000002.jsonl` … so their names sort in the order they were written.
 */
export function auditFiles(path: string): string[] {
  const dir = dirname(path);
  const stem = basename(path).replace(/\.jsonl$/, "");
  const pattern = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(\\d{6,})\\.jsonl$`);
  const rotated = existsSync(dir) ? readdirSync(dir).flatMap((name) => (pattern.exec(name) ? [{ name, n: Number(pattern.exec(name)![1]) }] : [])) : [];
  rotated.sort((a, b) => a.n - b.n);
  return [...rotated.map((r) => join(dir, r.name)), ...(existsSync(path) ? [path] : [])];
}

export function nextRotatedPath(path: string): string {
  const last = auditFiles(path).filter((p) => p !== path).pop();
  const n = last ? Number(/\.(\d+)\.jsonl$/.exec(last)![1]) + 1 : 1;
  return path.replace(/\.jsonl$/, `.${String(n).padStart(6, "0")}.jsonl`);
}

/** Where the chain stands: the last chained seq (0 before any) and the hash of the last line. */
export interface ChainHead {
  seq: number;
  hash: string;
  /** False when the last line was cut short (a crash mid-write): the next write ends it first. */
  terminated: boolean;
}

/**
 * The head of an open file from its tail alone (appends stay cheap): the last line's hash, and the
 * seq of the last chained line before it (a line cut short carries none).
 */
export function headOfFile(fd: number, before: () => ChainHead): ChainHead {
  const size = fstatSync(fd).size;
  if (size === 0) return before();
  for (let window = 4096; ; window *= 4) {
    const start = Math.max(0, size - window);
    const buffer = Buffer.alloc(size - start);
    readSync(fd, buffer, 0, buffer.length, start);
    const terminated = buffer[buffer.length - 1] === 0x0a;
    const lines = splitLines(buffer).lines;
    if (start > 0) lines.shift(); // may begin mid-line
    const hash = lines.length > 0 ? lineHash(lines[lines.length - 1]!) : undefined;
    let chained: ChainFields | undefined;
    for (let i = lines.length - 1; i >= 0 && !chained; i--) chained = chainFields(lines[i]!);
    if (hash && (chained || start === 0)) return { seq: chained ? chained.seq : before().seq, hash, terminated };
  }
}

/** The head at the end of the newest rotated file: where a new live file's chain continues. */
export function headOfRotated(path: string): ChainHead {
  const files = auditFiles(path).filter((p) => p !== path);
  const headOf = (i: number): ChainHead => {
    if (i < 0) return { seq: 0, hash: GENESIS, terminated: true };
    const fd = openSync(files[i]!, "r");
    try {
      return headOfFile(fd, () => headOf(i - 1));
    } finally {
      closeSync(fd);
    }
  };
  return headOf(files.length - 1);
}

/** A file's lines as exact bytes; the last is `torn` when the file does not end with a newline. */
export function splitLines(buffer: Buffer): { lines: Buffer[]; torn: boolean } {
  const lines: Buffer[] = [];
  let from = 0;
  for (let at = buffer.indexOf(0x0a); at !== -1; at = buffer.indexOf(0x0a, from)) {
    lines.push(buffer.subarray(from, at));
    from = at + 1;
  }
  const torn = from < buffer.length;
  if (torn) lines.push(buffer.subarray(from));
  return { lines, torn };
}
