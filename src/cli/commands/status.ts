import { Command } from "commander";
import { systemClock, type Clock } from "../../core/clock.js";
import { AuthctlError, UsageError } from "../../core/errors.js";
import type { CredentialInfo } from "../../store/store.js";
import type { Factory } from "../factory.js";
import { EXIT } from "../exitCodes.js";
import { fixCommandFor } from "../../roster/fixCommand.js";
import { out, printJson, table } from "../io.js";

export const EXPIRING_WITHIN_MS = 24 * 60 * 60 * 1000;

export type LoginState = "valid" | "expiring" | "expired" | "missing";

export interface StatusRow {
  credentialSet: string;
  provider: string;
  state: LoginState;
  /** `store`, or `env VAR` when a required provider is missing from the store but its env var is set. */
  source: string | null;
  kind: string | null;
  preview: string | null;
  expiresAt: string | null;
  /** Missing rows: the exact command that adds the login. */
  fix?: string;
}

export interface StatusOptions {
  set?: string;
  require?: string;
  json?: boolean;
  /** Tests inject a clock; the CLI uses the system's. */
  clock?: Clock;
}

const KEY_KIND_LABELS: Record<string, string> = {
  scrypt: "passphrase (scrypt)",
  keyfile: "key file",
  keyring: "OS keyring (Secret Service)",
  none: "not created yet (first secret creates it)",
};

export function stateOf(expiresAt: Date | null, now: number): LoginState {
  if (!expiresAt) return "valid";
  const left = expiresAt.getTime() - now;
  return left <= 0 ? "expired" : left <= EXPIRING_WITHIN_MS ? "expiring" : "valid";
}

function rowOf(info: CredentialInfo, now: number): StatusRow {
  return {
    credentialSet: info.credentialSet,
    provider: info.provider,
    state: stateOf(info.expiresAt, now),
    source: "store",
    kind: info.kind,
    preview: info.preview,
    expiresAt: info.expiresAt?.toISOString() ?? null,
  };
}

/** Required providers with no row: found in the environment (the roster's env var), or missing. */
async function requiredRows(f: Factory, names: string[], set: string, have: ReadonlySet<string>): Promise<StatusRow[]> {
  const wanted = names.filter((n) => !have.has(n));
  if (wanted.length === 0) return [];
  // Only here does status read the roster (zod, yaml): plain `authctl status` stays light.
  const roster = await f.roster();
  return wanted.map((provider): StatusRow => {
    const entry = roster.get(provider);
    const envVar = entry.api_key?.env_var;
    if (envVar && f.io.env[envVar]) return { credentialSet: set, provider, state: "valid", source: `env ${envVar}`, kind: "api_key", preview: null, expiresAt: null };
    return { credentialSet: set, provider, state: "missing", source: null, kind: null, preview: null, expiresAt: null, fix: fixCommandFor(entry, set) };
  });
}

/**
 * Which logins work, at a glance: one row per (set, provider) — valid, expiring (within 24 h),
 * expired, missing — under a header with the store's facts (home, what unlocks it). Only metadata
 * is read: no secret is decrypted. Exit 3 when a `--require`d provider is missing.
 */
export async function runStatus(f: Factory, opts: StatusOptions): Promise<number> {
  const { io } = f;
  const now = (opts.clock ?? systemClock).now();
  const store = f.store();
  let unlockedBy: string | null = null;
  let lockProblem: string | null = null;
  if (store.keyKind) {
    try {
      await f.unlockedStore();
      store.verifyKey();
      unlockedBy = store.keySource ?? null;
    } catch (e) {
      if (!(e instanceof AuthctlError)) throw e;
      lockProblem = e.message;
    }
  }
  const required = opts.require?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];
  if (opts.require !== undefined && required.length === 0) throw new UsageError("--require needs provider names, comma-separated (e.g. claude,stripe)");
  const set = opts.set ?? "default";
  const rows = store.list(opts.set ? { credentialSet: opts.set } : {}).map((info) => rowOf(info, now));
  const inSet = new Set(rows.filter((r) => r.credentialSet === set).map((r) => r.provider));
  rows.push(...(await requiredRows(f, required, set, inSet)));
  const missingRows = rows.filter((r) => r.state === "missing");
  const missing = missingRows.map((r) => r.provider);
  const status = {
    home: store.home,
    database: store.path,
    keyKind: store.keyKind ?? null,
    readOnly: store.readOnlyReason ?? null,
    unlockedBy,
    lockProblem,
    logins: rows,
    missing,
  };
  if (opts.json) printJson(io, status);
  else {
    const header = [
      ["home", status.home],
      ["database", status.database],
      ["store key", KEY_KIND_LABELS[status.keyKind ?? "none"] ?? status.keyKind!],
      ["unlocked by", unlockedBy ?? (lockProblem ? `LOCKED: ${lockProblem}` : "-")],
      ...(status.readOnly ? [["writable", `no: ${status.readOnly}`]] : []),
    ];
    for (const line of table(header)) out(io, line);
    out(io);
    if (rows.length === 0) out(io, "no logins yet: `authctl auth <provider>` or `authctl key <provider>`");
    else {
      const lines = [["SET", "PROVIDER", "STATE", "KIND", "SOURCE", "PREVIEW", "EXPIRES"]];
      for (const r of rows) lines.push([r.credentialSet, r.provider, r.state, r.kind ?? "-", r.source ?? "-", r.preview ?? "-", r.expiresAt ?? "-"]);
      for (const line of table(lines)) out(io, line);
    }
    for (const r of missingRows) io.stderr.write(`authctl: missing ${r.credentialSet}:${r.provider}; run: ${r.fix}\n`);
  }
  if (lockProblem) return EXIT.error;
  return missing.length ? EXIT.missing : EXIT.ok;
}

export function statusCommand(f: Factory): Command {
  return new Command("status")
    .description("show which logins work (valid, expiring, expired, missing), the store, and what unlocks it")
    .option("--set <set>", "only this credential set (and the set --require checks; default 'default')")
    .option("--require <providers>", "comma-separated providers that must be present: exit 3 if one is missing (for CI)")
    .option("--json", "print JSON")
    .action(async (opts: StatusOptions) => {
      f.exitCode = await runStatus(f, opts);
    });
}
