import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** One access or lifecycle event; never a secret or a token, only the token's id. */
export interface AuditEvent {
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

/**
 * Append-only JSONL (0600) under `$AUTHCTL_HOME`: one line per event. With `groupWrites` (the
 * service) the lines recorded in one turn of the event loop go to the file in one write, in order,
 * and whatever waits on them (`whenWritten`: the service's responses) runs only after that write —
 * so no caller ever holds an answer whose audit line is not in the file. `close` writes what is left.
 */
export class AuditLog {
  private fd: number | undefined;
  private pending: string[] = [];
  private waiting: Array<() => void> = [];
  private flushScheduled = false;

  constructor(
    readonly path: string,
    private readonly now: () => number,
    private readonly options: { groupWrites?: boolean } = {},
  ) {}

  record(event: Omit<AuditEvent, "time">): void {
    const line = JSON.stringify({ time: new Date(this.now()).toISOString(), ...event }) + "\n";
    if (!this.options.groupWrites) return this.write(line);
    this.pending.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Runs `then` once every line recorded so far is written (at once when none is pending). */
  whenWritten(then: () => void): void {
    if (this.pending.length === 0) return then();
    this.waiting.push(then);
  }

  /** Writes the pending lines in one append, then releases what waited on them. */
  flush(): void {
    this.flushScheduled = false;
    const lines = this.pending;
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    if (lines.length > 0) this.write(lines.join(""));
    for (const then of waiting) then();
  }

  private write(text: string): void {
    this.fd ??= openSync(this.path, "a", 0o600);
    writeSync(this.fd, text);
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Appends one event and closes the file again: for the CLI and library, which write an event now
 * and then. O_APPEND keeps lines from concurrent processes whole (each is one small write).
 */
export function appendAudit(path: string, now: number, event: Omit<AuditEvent, "time">): void {
  const log = new AuditLog(path, () => now);
  try {
    log.record(event);
  } finally {
    log.close();
  }
}

/** The events recorded since `sinceMs` (all when undefined); a torn last line is skipped. */
export function readAudit(path: string, sinceMs?: number): AuditEvent[] {
  if (!existsSync(path)) return [];
  const events: AuditEvent[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const event = JSON.parse(line) as AuditEvent;
      if (sinceMs === undefined || Date.parse(event.time) >= sinceMs) events.push(event);
    } catch {
      // a line cut short by a crash: the rest of the log is still good
    }
  }
  return events;
}
