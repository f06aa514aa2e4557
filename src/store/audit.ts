import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "../core/errors.js";
import type { Env } from "../core/env.js";
import { auditFiles, chainFields, checkpointMac, headOfFile, headOfRotated, lineHash, nextRotatedPath, splitLines, type ChainHead } from "./auditChain.js";

/** One access or lifecycle event; never a secret or a token, only the token's id. */
export interface AuditEvent {
  /** Place in the hash chain: the line's number, and the SHA-256 of the line before it (absent on lines older than the chain). */
  seq?: number;
  prev?: string;
  time: string;
  /** "admin", "token:<id>" or "anonymous" (the service); "session:<id>" (the proxy); "local" (a library call or the CLI). */
  actor: string;
  /** The service's operation (/v1/get …), "proxy", or a lifecycle event: stored, captured, refreshed, removed. */
  op: string;
  /** "set:provider", "set:*" or a token id for token operations. */
  target?: string;
  allowed: boolean;
  reason?: string;
  /** Lifecycle events: the credential's kind. */
  kind?: string;
  /** The process that acted: lifecycle events, and a service caller where the socket tells (SO_PEERCRED). */
  pid?: number;
  uid?: number;
  /** Proxied requests (op "proxy"): what went where and how it ended; never headers or bodies. */
  method?: string;
  path?: string;
  status?: number;
  bytesIn?: number;
  bytesOut?: number;
  durationMs?: number;
}

export type LifecycleOp = "stored" | "captured" | "refreshed" | "removed";

export const auditPath = (home: string) => join(home, "audit.jsonl");

const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
/**
 * How long a line recorded with `batch` may wait for the next append. Each append takes the store's
 * write lock and stats the file (about twenty system calls): proxied requests a few ms apart share
 * one instead of paying it each. What a crash can lose is only unwritten lines, never the chain.
 */
const BATCH_MS = 10;

/** When the live file rotates: `AUTHCTL_AUDIT_MAX_BYTES` (bytes), 8 MiB by default. */
export function auditMaxBytes(env: Env): number {
  const text = env.AUTHCTL_AUDIT_MAX_BYTES;
  if (text === undefined || text === "") return DEFAULT_MAX_BYTES;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new StoreError(`AUTHCTL_AUDIT_MAX_BYTES must be a size in bytes (e.g. 8388608), got ${JSON.stringify(text)}: fix or unset it`);
  return Number(text);
}

/** What the log needs from the store: a lock, the checkpoint key, and a copy of the newest checkpoint out of the log's reach. */
export interface AuditKeeper {
  /** Runs `fn` holding the lock every writer of this home takes: each line hashes the one before, whoever wrote it. */
  exclusive<T>(fn: () => T): T;
  /** The checkpoint key, or undefined when the store key is not at hand (then no checkpoint is written). */
  checkpointKey(): Buffer | undefined;
  /** Called under the lock with each checkpoint written: a log cut back to an older checkpoint then shows. */
  saveCheckpoint(line: string): void;
}

export interface AuditLogOptions {
  groupWrites?: boolean;
  /** How long a line recorded with `batch` may wait for the next append (BATCH_MS). */
  batchMs?: number;
  /** Without one (tests of the writing itself) lines are chained but not locked, and no checkpoint is written. */
  keeper?: () => AuditKeeper;
  maxBytes?: number;
}

type Entry = Omit<AuditEvent, "seq" | "prev">;

interface LiveFile {
  fd: number;
  ino: number;
  size: number;
  head: ChainHead;
}

/**
 * Append-only JSONL (0600) under `$AUTHCTL_HOME`, hash-chained: every line starts with its `seq` and
 * the SHA-256 (`prev`) of the line before it, across rotated files; rotation and `close` add a
 * checkpoint signed with a key derived from the store key. With `groupWrites` (the service) the
 * lines recorded in one turn of the event loop go to the file in one write, in order, and whatever
 * waits on them (`whenWritten`: the service's responses) runs only after that write — so no caller
 * ever holds an answer whose audit line is not in the file. `close` writes what is left.
 */
export class AuditLog {
  private pending: Entry[] = [];
  private waiting: Array<() => void> = [];
  private flushScheduled = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private lastAppend = -Infinity;
  /** Lines this writer added since its last checkpoint: a clean stop signs them. */
  private unsigned = 0;
  private live: LiveFile | undefined;

  constructor(
    readonly path: string,
    private readonly now: () => number,
    private readonly options: AuditLogOptions = {},
  ) {}

  /**
   * With `groupWrites`, the line goes to the file at the end of this event-loop turn; with `batch`
   * too (a proxied request that was forwarded), it may wait up to BATCH_MS after the last append;
   * with `now` (the proxy's refusals, answered right after), before `record` returns, with every
   * line pending before it.
   */
  record(event: Omit<AuditEvent, "time" | "seq" | "prev">, { batch = false, now = false } = {}): void {
    const entry = { time: new Date(this.now()).toISOString(), ...event };
    if (!this.options.groupWrites) return this.append([entry]);
    this.pending.push(entry);
    if (now) return this.flush();
    // Node's global `performance`, not node:perf_hooks: importing it loads a dozen modules at every
    // command's start, even one that writes no line.
    const wait = batch ? this.lastAppend + (this.options.batchMs ?? BATCH_MS) - performance.now() : 0;
    if (wait > 0) {
      this.batchTimer ??= setTimeout(() => {
        this.batchTimer = undefined;
        this.flush();
      }, wait);
    } else this.flushSoon();
  }

  private flushSoon(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Runs `then` once every line recorded so far is written (at once when none is pending). */
  whenWritten(then: () => void): void {
    if (this.pending.length === 0) return then();
    this.waiting.push(then);
    this.flushSoon();
  }

  /** Writes the pending lines in one append, then releases what waited on them. */
  flush(): void {
    this.flushScheduled = false;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const entries = this.pending;
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    if (entries.length > 0) {
      this.lastAppend = performance.now();
      this.append(entries);
    }
    for (const then of waiting) then();
  }

  /** Writes what is pending, then a checkpoint over this writer's lines (when the store key is at hand). */
  close(): void {
    try {
      this.flush();
      if (this.unsigned > 0 && this.options.keeper) this.append([], { checkpoint: true });
    } catch (error) {
      // The home was removed under a running writer (a daemon whose temp home is gone): nothing left to sign.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    } finally {
      this.closeLive();
    }
  }

  private append(entries: Entry[], { checkpoint = false } = {}): void {
    const keeper = this.options.keeper?.();
    const write = () => this.appendHoldingLock(entries, checkpoint, keeper);
    if (keeper) keeper.exclusive(write);
    else write();
  }

  private appendHoldingLock(entries: Entry[], checkpoint: boolean, keeper: AuditKeeper | undefined): void {
    const live = this.liveFile();
    let head = live.head;
    // A line cut short by a crash is ended, so it stays a line of its own in the chain.
    let text = head.terminated ? "" : "\n";
    const chain = (value: object) => {
      const line = JSON.stringify({ seq: head.seq + 1, prev: head.hash, ...value });
      head = { seq: head.seq + 1, hash: lineHash(line), terminated: true };
      text += line + "\n";
      return line;
    };
    for (const entry of entries) chain(entry);
    this.unsigned += entries.length;
    const rotate = entries.length > 0 && live.size + Buffer.byteLength(text) >= (this.options.maxBytes ?? DEFAULT_MAX_BYTES);
    const key = checkpoint || rotate ? keeper?.checkpointKey() : undefined;
    if (key) {
      const time = new Date(this.now()).toISOString();
      keeper!.saveCheckpoint(chain({ type: "checkpoint", time, mac: checkpointMac(key, head.seq + 1, head.hash, time) }));
      this.unsigned = 0;
    }
    const bytes = Buffer.from(text);
    if (bytes.length > 0) writeSync(live.fd, bytes);
    Object.assign(live, { size: live.size + bytes.length, head });
    if (rotate) {
      this.closeLive();
      // The next line starts a new live file, chained to this one's last line (its checkpoint).
      renameSync(this.path, nextRotatedPath(this.path));
    }
  }

  /**
   * The live file, kept open between appends; its tail is read again only when someone else wrote
   * to it since (its size moved) or rotated it (another inode at the path).
   */
  private liveFile(): LiveFile {
    const onDisk = statSync(this.path, { throwIfNoEntry: false });
    if (this.live && onDisk?.ino !== this.live.ino) this.closeLive();
    if (!this.live) {
      const fd = openSync(this.path, "a+", 0o600);
      this.live = { fd, ino: fstatSync(fd).ino, size: -1, head: { seq: 0, hash: "", terminated: true } };
    }
    const size = fstatSync(this.live.fd).size;
    if (size !== this.live.size) Object.assign(this.live, { size, head: headOfFile(this.live.fd, () => headOfRotated(this.path)) });
    return this.live;
  }

  private closeLive(): void {
    if (this.live) closeSync(this.live.fd);
    this.live = undefined;
  }
}

/** Where a line that is not an event sits (1-based), for a count and a pointer; its text is never repeated. */
export interface MalformedAuditLine {
  file: string;
  line: number;
}

/** Whatever else a line holds (an edit, a torn write) is not passed on as an event. */
function asEvent(text: string): AuditEvent | undefined {
  try {
    const value = JSON.parse(text) as Partial<AuditEvent> | null;
    const ok = typeof value === "object" && value !== null && !Array.isArray(value) && typeof value.time === "string" && typeof value.actor === "string" && typeof value.op === "string" && typeof value.allowed === "boolean";
    return ok ? (value as AuditEvent) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The events recorded since `sinceMs` (all when undefined), across rotated files; checkpoints are
 * skipped, and lines that are not events (a line cut short by a crash, an edit) are left out and
 * pushed to `malformed` when given.
 */
export function readAudit(path: string, sinceMs?: number, malformed?: MalformedAuditLine[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const file of auditFiles(path)) {
    if (!existsSync(file)) continue;
    splitLines(readFileSync(file)).lines.forEach((line, i) => {
      if (line.length === 0 || chainFields(line)?.type === "checkpoint") return;
      const event = asEvent(line.toString("utf8"));
      if (!event) malformed?.push({ file, line: i + 1 });
      else if (sinceMs === undefined || Date.parse(event.time) >= sinceMs) events.push(event);
    });
  }
  return events;
}
