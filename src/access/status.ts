import { AuthctlError } from "../core/errors.js";
import type { Env } from "../core/env.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import { storePaths } from "../core/paths.js";
import { describeUrl } from "../store/postgres/location.js";
import { STORE_URL_VARIABLE } from "../store/selectBackend.js";
import type { Roster } from "../roster/load.js";
import { identityFacts, readFacts, type CredentialFacts } from "../credentials/facts.js";
import type { CredentialInfo, CredentialStore, RowMeta } from "../store/store.js";
import { keepFacts, withLoginStates, type LoginState } from "./statusStates.js";
import type { ProbeOutcome } from "./statusProbe.js";

export const EXPIRING_WITHIN_MS = 24 * 60 * 60 * 1000;

export type { LoginState } from "./statusStates.js";

/** One (set, provider) as `authctl status --json` prints it. */
export interface LoginStatus {
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
  /** The state in words, with how long (`expiring in 3h, will refresh`); set on every row `gatherStatus` returns. */
  label?: string;
  /** A refresh token and its refresher exist; set on every row `gatherStatus` returns. */
  refreshable?: boolean;
  /** The account the last live check of this login saw (kept with the row), never the secret. */
  identity?: string;
  /** `check`: the live probe's result and the account it names, never the secret. */
  check?: ProbeOutcome;
}

/**
 * Which store a report describes: the home's SQLite file, or the PostgreSQL database a fleet shares
 * (`PostgreSQL store host:port/db`, never the URL: it may hold the password). The label is also the
 * keyring account the store key is kept under, so two stores of one user never share an entry.
 */
export interface StoreDescription {
  backend: "postgresql" | "sqlite";
  label: string;
}

/** The store `AUTHCTL_STORE_URL` (or the home) selects, without opening it. */
export function describeStore(env: Env, home: string): StoreDescription {
  const url = env[STORE_URL_VARIABLE]?.trim();
  if (!url) return { backend: "sqlite", label: storePaths(home).db };
  try {
    return { backend: "postgresql", label: describeUrl(url).label };
  } catch {
    return { backend: "postgresql", label: `${STORE_URL_VARIABLE} (not a valid URL)` };
  }
}

/** What `authctl status --json` prints: the store's facts and one row per login. JSON-safe. */
export interface AuthctlStatus {
  home: string;
  database: string;
  store: StoreDescription;
  /** What the store key is kept in: `keyring`, `keyfile` or `scrypt` (a passphrase); null before the first secret. */
  keyKind: NonNullable<CredentialStore["keyKind"]> | null;
  /** Why the store can only be read; null when it can be written. */
  readOnly: string | null;
  /** Which key source unlocked the store; null when it has no key yet or is locked. */
  unlockedBy: string | null;
  /** Why the store could not be unlocked; null when it could (or has no key yet). */
  lockProblem: string | null;
  logins: LoginStatus[];
  /** The required providers that are neither stored nor in the environment. */
  missing: string[];
}

export interface StatusQuery {
  /** Only this set; also the set `require` checks (default `default`). */
  credentialSet?: string;
  /** Providers that must be present: each missing one is a `missing` row with its fix. */
  require?: readonly string[];
  /** Probe each stored login at its vendor's cheapest authenticated endpoint (the roster's `probe`). */
  check?: boolean;
  signal?: AbortSignal;
}

/** Where status reads from; the CLI passes its light parts so plain `authctl status` never loads the roster. */
export interface StatusSources {
  store: CredentialStore;
  env: Env;
  now: number;
  /** Read only when a required provider has no row. */
  roster: () => Roster | Promise<Roster>;
  /** Runs before the key is checked (the CLI asks a terminal for the passphrase here); its errors count as a lock problem. */
  unlock?: () => unknown;
}

export function stateOf(expiresAt: Date | null, now: number): LoginState {
  if (!expiresAt) return "valid";
  const left = expiresAt.getTime() - now;
  return left <= 0 ? "expired" : left <= EXPIRING_WITHIN_MS ? "expiring" : "valid";
}

function rowOf(info: CredentialInfo, now: number, facts: CredentialFacts | undefined): LoginStatus {
  const identity = facts?.identity;
  return {
    credentialSet: info.credentialSet,
    provider: info.provider,
    state: stateOf(info.expiresAt, now),
    source: "store",
    kind: info.kind,
    preview: info.preview,
    expiresAt: info.expiresAt?.toISOString() ?? null,
    ...(identity ? { identity } : {}),
  };
}

/** Required providers with no row: found in the environment (the roster's env var), or missing. */
async function requiredRows(sources: StatusSources, names: readonly string[], set: string, have: ReadonlySet<string>): Promise<LoginStatus[]> {
  const wanted = names.filter((n) => !have.has(n));
  if (wanted.length === 0) return [];
  const roster = await sources.roster();
  return wanted.map((provider): LoginStatus => {
    const entry = roster.get(provider);
    const envVar = entry.api_key?.env_var;
    if (envVar && sources.env[envVar]) return { credentialSet: set, provider, state: "valid", source: `env ${envVar}`, kind: "api_key", preview: null, expiresAt: null };
    return { credentialSet: set, provider, state: "missing", source: null, kind: null, preview: null, expiresAt: null, fix: fixCommandFor(entry, set) };
  });
}

/**
 * Each stored login probed live (only `--check` loads the probe and the payload types it reads);
 * the account a probe names is kept with its row, so plain `status` and `creds show` show it later.
 */
async function checkedLogins<R extends LoginStatus>(sources: StatusSources, rows: readonly R[], signal: AbortSignal | undefined): Promise<R[]> {
  const { checkLogins } = await import("./statusProbe.js");
  const checked = await checkLogins(sources, rows, signal);
  await keepIdentities(sources.store, checked, sources.now);
  return checked.map((r) => (r.check?.identity ? { ...r, identity: r.check.identity } : r));
}

/** Keeps the account each probe named with its row (the row's facts). */
export async function keepIdentities(store: CredentialStore, checked: ReadonlyArray<Pick<LoginStatus, "credentialSet" | "provider" | "check">>, now: number): Promise<void> {
  const found = checked.filter((r) => r.check?.result === "ok" && r.check.identity);
  await keepFacts(store, found.map((r) => ({ credentialSet: r.credentialSet, provider: r.provider, extra: identityFacts(r.check!.identity!, now) })));
}

/**
 * Which logins work: one row per (set, provider) with its state (statusStates.ts: whether an
 * expiring login refreshes is read from its decrypted payload, never returned) and the store's
 * facts (home, what unlocks it); `check` probes each login live. A store that cannot be unlocked
 * is reported in `lockProblem` (its rows `locked`), not thrown.
 */
export async function gatherStatus(sources: StatusSources, query: StatusQuery = {}): Promise<AuthctlStatus> {
  const { store, now } = sources;
  if (query.credentialSet !== undefined) assertSetName(query.credentialSet);
  let unlockedBy: string | null = null;
  let lockProblem: string | null = null;
  if (store.keyKind) {
    try {
      await sources.unlock?.();
      store.verifyKey();
      unlockedBy = store.keySource ?? null;
    } catch (e) {
      if (!(e instanceof AuthctlError)) throw e;
      lockProblem = e.message;
    }
  }
  const set = query.credentialSet ?? DEFAULT_SET;
  const infos = store.list(query.credentialSet ? { credentialSet: query.credentialSet } : {});
  // Rows with the same facts text share one parsed object (store.list): each is read once.
  const read = new Map<RowMeta, CredentialFacts | undefined>();
  const factsOf = (meta: RowMeta | null | undefined) => {
    if (!meta) return undefined;
    if (!read.has(meta)) read.set(meta, readFacts(meta));
    return read.get(meta);
  };
  const rows = infos.map((info) => rowOf(info, now, factsOf(info.meta)));
  const inSet = new Set<string>();
  for (const r of rows) if (r.credentialSet === set) inSet.add(r.provider);
  // Stored rows first, so a row's index is its info's.
  rows.push(...(await requiredRows(sources, query.require ?? [], set, inSet)));
  const stated = await withLoginStates(sources, rows, lockProblem !== null, (_, i) => (i < infos.length ? factsOf(infos[i]!.meta) : undefined));
  const logins = query.check ? await checkedLogins(sources, stated, query.signal) : stated;
  return {
    home: store.home,
    database: store.path,
    store: { backend: describeStore(sources.env, store.home).backend, label: store.path },
    keyKind: store.keyKind ?? null,
    readOnly: store.readOnlyReason ?? null,
    unlockedBy,
    lockProblem,
    logins,
    missing: logins.filter((r) => r.state === "missing").map((r) => r.provider),
  };
}
