import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** One access or lifecycle event; never a secret or a token, only the token's id. */
export interface AuditEvent {
  time: string;
  /** "admin", "token:<id>" or "anonymous". */
  actor: string;
  op: string;
  /** "set:provider", "set:*" or a token id for token operations. */
  target?: string;
  allowed: boolean;
  reason?: string;
}

export const auditPath = (home: string) => join(home, "audit.jsonl");

/** Append-only JSONL (0600) under `$AUTHCTL_HOME`: one line per event, written as it happens. */
export class AuditLog {
  private fd: number | undefined;

  constructor(
    readonly path: string,
    private readonly now: () => number,
  ) {}

  record(event: Omit<AuditEvent, "time">): void {
    this.fd ??= openSync(this.path, "a", 0o600);
    writeSync(this.fd, JSON.stringify({ time: new Date(this.now()).toISOString(), ...event }) + "\n");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
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
