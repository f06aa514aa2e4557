import { Command } from "commander";
import { systemClock, type Clock } from "../../core/clock.js";
import { UsageError } from "../../core/errors.js";
import type { ResolvedSet } from "../../access/credentialSet.js";
import { findProjectFile } from "../../access/projectLookup.js";
import { gatherStatus } from "../../access/status.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { EXIT } from "../exitCodes.js";
import { colorEnabled, out, printJson, stateColor, table, timeText } from "../io.js";

// The gathering is the library's (`status()`), so the CLI's --json and the library's result are one.
export { EXPIRING_WITHIN_MS, stateOf, type LoginState, type LoginStatus as StatusRow } from "../../access/status.js";

export interface StatusOptions {
  set?: string;
  require?: string;
  json?: boolean;
  /** Probe each stored login against its vendor's cheapest authenticated endpoint. */
  check?: boolean;
  /** Tests inject a clock; the CLI uses the system's. */
  clock?: Clock;
}

const KEY_KIND_LABELS: Record<string, string> = {
  scrypt: "passphrase (scrypt)",
  keyfile: "key file",
  keyring: "OS keyring (Secret Service)",
  none: "not created yet (first secret creates it)",
};

/**
 * The set every other command would read here (only the default set leaves the listing whole).
 * The set resolver, the project file's reader and the context (with the roster a project file is
 * checked against) are loaded only where a project file may apply: a plain `status` loads none.
 */
async function chosenSet(f: Factory, flag: string | undefined): Promise<ResolvedSet & { described: string }> {
  const { io } = f;
  if (flag === undefined && !io.env.AUTHCTL_SET && (io.cwd === undefined || !findProjectFile(io.cwd))) {
    return { credentialSet: DEFAULT_SET, source: "default", described: `${DEFAULT_SET} (the default)` };
  }
  const { describeSet, resolveCredentialSet } = await import("../../access/credentialSet.js");
  const chosen = resolveCredentialSet(await f.context(), flag);
  return { ...chosen, described: describeSet(chosen, io.cwd) };
}

/**
 * Which logins work, at a glance: one row per (set, provider) with its state (docs/status.md)
 * under a header with the store's facts (home, what unlocks it). Secrets are read to tell a
 * refreshing login from one that needs a new login, and by `--check` to probe, never shown.
 * Exit 3 when a `--require`d provider is missing, 1 when the store is locked or a probe fails.
 */
export async function runStatus(f: Factory, opts: StatusOptions): Promise<number> {
  const { io } = f;
  const flagged = opts.require?.split(",").map((s) => s.trim()).filter(Boolean);
  if (opts.require !== undefined && flagged?.length === 0) throw new UsageError("--require needs provider names, comma-separated (e.g. claude,stripe)");
  const chosen = await chosenSet(f, opts.set);
  const required = flagged ?? chosen.project?.require ?? [];
  const credentialSet = chosen.source === "default" ? undefined : chosen.credentialSet;
  const sources = { store: f.store(), env: io.env, now: (opts.clock ?? systemClock).now(), roster: () => f.roster(), unlock: () => f.unlockedStore() };
  const status = await gatherStatus(sources, { credentialSet, require: required, check: opts.check === true, signal: f.signal });
  const { unlockedBy, lockProblem, logins: rows, missing } = status;
  const missingRows = rows.filter((r) => r.state === "missing");
  if (opts.json) printJson(io, status);
  else {
    const header = [
      ["set", chosen.described],
      ["home", status.home],
      ["database", status.database],
      ["store key", KEY_KIND_LABELS[status.keyKind ?? "none"] ?? status.keyKind!],
      ["unlocked by", unlockedBy ?? (lockProblem ? `LOCKED: ${lockProblem}` : "-")],
      ...(status.readOnly ? [["writable", `no: ${status.readOnly}`]] : []),
    ];
    for (const line of table(header)) out(io, line);
    const now = (opts.clock ?? systemClock).now();
    out(io);
    if (rows.length === 0) out(io, "no logins yet: `authctl auth <provider>` or `authctl key <provider>`");
    else {
      // The account a live check saw, kept with the row: shown once any row has one.
      const accounts = rows.some((r) => r.identity);
      const lines = [["SET", "PROVIDER", "STATE", "KIND", "SOURCE", "PREVIEW", "EXPIRES"]];
      if (accounts) lines[0]!.push("ACCOUNT");
      if (opts.check) lines[0]!.push("CHECK");
      // Whether to colour is asked once, not per row (each asks the environment).
      const color = colorEnabled(io) ? (state: string, text: string) => stateColor(io, state, text) : (_: string, text: string) => text;
      for (const r of rows) {
        const expires = r.expiresAt ? timeText(new Date(r.expiresAt), now, { relativeOnly: true }) : "-";
        const line = [r.credentialSet, r.provider, color(r.state, r.label ?? r.state), r.kind ?? "-", r.source ?? "-", r.preview ?? "-", expires];
        if (accounts) line.push(r.identity ?? "-");
        if (r.check) line.push(color(r.check.result, r.check.result === "ok" ? (r.check.identity ?? "ok") : `${r.check.result}: ${r.check.detail}`));
        else if (opts.check) line.push("-");
        lines.push(line);
      }
      // One write, not one per row (as creds list).
      out(io, table(lines, io).join("\n"));
    }
    for (const r of missingRows) io.stderr.write(`authctl: missing ${r.credentialSet}:${r.provider}; run: ${r.fix}\n`);
  }
  if (lockProblem) return EXIT.error;
  if (missing.length) return EXIT.missing;
  return rows.some((r) => r.check?.result === "rejected" || r.check?.result === "failed") ? EXIT.error : EXIT.ok;
}

export function statusCommand(f: Factory): Command {
  const command = new Command("status")
    .description("show which logins work (valid, expiring or expired and whether they refresh, missing, locked), the store, and what unlocks it")
    .option("--set <set>", "only this credential set, and the set --require checks (default: $AUTHCTL_SET, else the nearest authctl.yaml's, else every set, 'default' for --require)")
    .option("--require <providers>", "comma-separated providers that must be present: exit 3 if one is missing (for CI; default: the project file's require)")
    .option("--check", "probe each stored login at its vendor (the roster's probe) and show the account: exit 1 if one is rejected or fails")
    .option("--json", "print JSON")
    .action(async (opts: StatusOptions) => {
      f.exitCode = await runStatus(f, opts);
    });
  return withExamples(command, f.io, [
    ["which logins work, and what unlocks the store", "authctl status"],
    ["probe each login at its vendor and show the account", "authctl status --check"],
    ["in CI: exit 3 unless these are stored", "authctl status --set ci --require anthropic,gh"],
  ]);
}
