import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { out, printJson, table } from "../io.js";

const UNIT_MS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 } as const;

/** `--since`: an ISO time, or an age back from now (30m, 2h, 1d). */
function sinceMs(text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+)([smhd])$/.exec(text);
  const since = relative ? now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS] : Date.parse(text);
  if (Number.isNaN(since)) throw new UsageError(`--since takes a time (2026-11-23T10:00:00Z) or an age (30m, 2h, 1d), got ${JSON.stringify(text)}`);
  return since;
}

/** `authctl audit` (and `serve log`): credential lifecycle and service access events, never a secret. */
export async function runAudit(f: Factory, opts: { since?: string; json?: boolean }): Promise<void> {
  const { readAudit, auditPath } = await import("../../store/audit.js");
  const events = readAudit(auditPath(f.home), sinceMs(opts.since, Date.now()));
  if (opts.json) return printJson(f.io, events);
  const rows = [["TIME", "ACTOR", "OP", "TARGET", "RESULT"]];
  for (const e of events) {
    const request = e.method ? ` ${e.method} ${e.path ?? ""}` : "";
    const outcome = e.allowed ? "allowed" : `denied: ${e.reason ?? ""}`;
    // A proxied request: the upstream's status, bytes each way and how long it took.
    const proxied = e.status !== undefined ? ` ${e.status}, ${e.bytesIn ?? 0} B in, ${e.bytesOut ?? 0} B out, ${e.durationMs ?? 0} ms` : "";
    rows.push([e.time, e.actor, e.op, `${e.target ?? "-"}${request}`, `${outcome}${proxied}`]);
  }
  if (events.length > 0) for (const line of table(rows)) out(f.io, line);
}

export function auditOptions(command: Command): Command {
  return command.option("--since <time>", "only events since a time or an age (30m, 2h, 1d)").option("--json", "print JSON");
}

export function auditCommand(f: Factory): Command {
  return auditOptions(new Command("audit").description("the audit log: credentials stored, captured, refreshed, removed; who read, minted, revoked or was denied what (never a secret)")).action((opts) =>
    runAudit(f, opts),
  );
}
