import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { AuditEvent, MalformedAuditLine } from "../../store/audit.js";
import type { Factory } from "../factory.js";
import { EXIT } from "../exitCodes.js";
import { err, out, paint, printJson, table, timeText } from "../io.js";

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
export async function runAudit(f: Factory, opts: { since?: string; json?: boolean; session?: string }): Promise<void> {
  if (opts.session !== undefined) return runAuditSession(f, { ...opts, session: opts.session });
  const { readAudit, auditPath } = await import("../../store/audit.js");
  const malformed: MalformedAuditLine[] = [];
  const events = readAudit(auditPath(f.home), sinceMs(opts.since, Date.now()), malformed);
  warnMalformed(f, malformed);
  if (opts.json) return printJson(f.io, events);
  const rows = [["TIME", "ACTOR", "OP", "TARGET", "RESULT"]];
  const now = Date.now();
  for (const e of events) {
    const request = e.method ? ` ${e.method} ${e.path ?? ""}` : "";
    // A proxied request: the upstream's status, bytes each way and how long it took.
    rows.push([timeText(new Date(e.time), now), e.actor, e.op, `${e.target ?? "-"}${request}`, decision(f, e) + proxied(e)]);
  }
  if (events.length > 0) for (const line of table(rows, f.io)) out(f.io, line);
}

/** On stderr, so `--json` stays an array of events; `audit verify` tells what happened to them. */
function warnMalformed(f: Factory, malformed: MalformedAuditLine[]): void {
  const first = malformed[0];
  if (first) err(f.io, `authctl: warning: skipped ${malformed.length} malformed audit line${malformed.length === 1 ? "" : "s"} (first: ${first.file}:${first.line}); \`authctl audit verify\` checks the log`);
}

const decision = (f: Factory, e: AuditEvent) => (e.allowed ? "allowed" : paint(f.io, "red", `denied: ${e.reason ?? ""}`));
const proxied = (e: AuditEvent) => (e.status !== undefined ? ` ${e.status}, ${e.bytesIn ?? 0} B in, ${e.bytesOut ?? 0} B out, ${e.durationMs ?? 0} ms` : "");

/** `authctl audit --session <id>`: one agent session's proxied requests and what was decided for each. */
async function runAuditSession(f: Factory, opts: { since?: string; json?: boolean; session: string }): Promise<void> {
  const [{ readAudit, auditPath }, { isSessionId }] = await Promise.all([import("../../store/audit.js"), import("../../proxy/phantoms.js")]);
  if (!isSessionId(opts.session)) throw new UsageError(`--session takes an agent session id (1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit), got ${JSON.stringify(opts.session.slice(0, 40))}`);
  const actor = `session:${opts.session}`;
  const malformed: MalformedAuditLine[] = [];
  const requests = readAudit(auditPath(f.home), sinceMs(opts.since, Date.now()), malformed).filter((e) => e.actor === actor && e.op === "proxy");
  warnMalformed(f, malformed);
  if (opts.json) return printJson(f.io, requests);
  if (requests.length === 0) return err(f.io, `No proxied requests recorded for session ${opts.session}${opts.since ? ` since ${opts.since}` : ""}.`);
  const rows = [["TIME", "CREDENTIAL", "METHOD", "PATH", "DECISION"]];
  const now = Date.now();
  for (const e of requests) rows.push([timeText(new Date(e.time), now), e.target ?? "-", e.method ?? "-", e.path ?? "-", decision(f, e) + proxied(e)]);
  for (const line of table(rows, f.io)) out(f.io, line);
}

/**
 * `authctl audit verify`: walks the hash chain across rotated files and checks each checkpoint with
 * the store's key. Exit 1 names the first tampered line; warnings (unsigned tail, unchained history) keep exit 0.
 */
export async function runAuditVerify(f: Factory, opts: { json?: boolean }): Promise<void> {
  const [{ auditPath }, { CHECKPOINT_KEY_LABEL }, { verifyAuditLog }] = await Promise.all([
    import("../../store/audit.js"),
    import("../../store/auditChain.js"),
    import("../../store/auditVerify.js"),
  ]);
  const store = f.store();
  const key = store.keyKind === undefined ? undefined : (await f.unlockedStore()).subkey(CHECKPOINT_KEY_LABEL);
  const verdict = verifyAuditLog(auditPath(f.home), { key, lastCheckpoint: store.lastAuditCheckpoint(), storePath: store.path });
  if (!verdict.ok) f.exitCode = EXIT.error;
  if (opts.json) return printJson(f.io, verdict);
  for (const warning of verdict.warnings) err(f.io, `authctl: warning: ${warning}`);
  if (verdict.problem) return err(f.io, `authctl: audit log tampered (${verdict.problem.kind}): ${verdict.problem.message}`);
  const files = verdict.files.length;
  out(f.io, `audit log intact: ${verdict.lines} lines in ${files} file${files === 1 ? "" : "s"}, ${verdict.checkpoints} checkpoint${verdict.checkpoints === 1 ? "" : "s"}`);
}

export function auditOptions(command: Command): Command {
  return command
    .option("--since <time>", "only events since a time or an age (30m, 2h, 1d)")
    .option("--session <id>", "only one agent session's proxied requests, with the decision for each")
    .option("--json", "print JSON");
}

export function auditCommand(f: Factory): Command {
  const audit = auditOptions(new Command("audit").description("the audit log: credentials stored, captured, refreshed, removed; who read, minted, revoked or was denied what (never a secret)")).action((opts) =>
    runAudit(f, opts),
  );
  audit
    .command("verify")
    .description("check the audit log's hash chain and signed checkpoints; exit 1 names the first edited, inserted, reordered or deleted line, or a cut tail")
    .option("--json", "print the verdict as JSON")
    .action((_opts, cmd: Command) => runAuditVerify(f, cmd.optsWithGlobals()));
  return audit;
}
