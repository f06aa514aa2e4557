import { AuthctlError } from "../core/errors.js";
import { spanText } from "../core/clock.js";
import { readFacts, type CredentialFacts } from "../credentials/facts.js";
import type { Roster } from "../roster/load.js";
import type { Provider } from "../roster/schema.js";
import type { CredentialStore, RowMeta, StoredCredential } from "../store/store.js";

/** Within this much of its expiry a login counts as expiring. */
export const EXPIRING_WITHIN_MS = 24 * 60 * 60 * 1000;

/**
 * What `status` says of one login. `*-refreshable`: the access token lapses (or has), but a refresh
 * token and a refresher for it exist, so the next use renews it without a login. `locked`: the store
 * key is unavailable, so nothing past the metadata can be told. `unknown`: the row cannot be read
 * as any known credential type.
 */
export const LOGIN_STATES = ["valid", "expiring-refreshable", "expiring", "expired-refreshable", "expired", "missing", "locked", "unknown"] as const;
export type LoginState = (typeof LOGIN_STATES)[number];

export interface LoginStateOf {
  state: LoginState;
  /** When the secret in the store stops working (the access token's, for a refreshing login); null when never or unknown. */
  expiresAt: Date | null;
  /** A refresh token and its refresher exist (the proxy, the OAuth 2.0 strategy, MSAL, google-auth-library). */
  refreshable: boolean;
  /** Why `unknown`. */
  reason?: string;
}

/** Whether something authctl runs renews this login: a refresh token alone is not enough. */
function refresherExists(facts: CredentialFacts, entry: Provider | undefined): boolean {
  if (!facts.refreshToken) return false;
  const flow = entry?.host_flow?.flow;
  switch (facts.type) {
    case "oauth":
      return Boolean(entry?.proxy?.oauth?.refresh);
    case "oauth2":
      return flow === "oauth2_device" || flow === "oauth2_pkce";
    case "google_oauth":
      return flow === "google_pkce";
    case "msal":
      return flow === "msal_device_code";
    default:
      return false;
  }
}

/** One stored login's state from its facts (the row's, or its payload's) and the roster entry of its provider. */
export function stateOfFacts(facts: CredentialFacts, rowExpiry: Date | null, entry: Provider | undefined, now: number): LoginStateOf {
  const refreshable = refresherExists(facts, entry);
  // The access token's own expiry where the type knows one, else the row's.
  const expiresAt = facts.tokenExpiresAt ?? rowExpiry;
  return { state: stateFromExpiry(expiresAt, refreshable, now), expiresAt, refreshable };
}

export function stateFromExpiry(expiresAt: Date | null, refreshable: boolean, now: number): LoginState {
  if (!expiresAt) return "valid";
  const left = expiresAt.getTime() - now;
  if (left <= 0) return refreshable ? "expired-refreshable" : "expired";
  if (left <= EXPIRING_WITHIN_MS) return refreshable ? "expiring-refreshable" : "expiring";
  return "valid";
}

/**
 * One stored login's facts read from its payload (decrypted, never shown), for a row written
 * before rows kept them; undefined with the reason when the payload is of no known type.
 */
async function factsOfPayload(row: StoredCredential): Promise<{ facts?: CredentialFacts; meta?: RowMeta; reason?: string }> {
  const { factsOf, typedCredential } = await import("../credentials/index.js");
  try {
    const meta = factsOf(typedCredential(row).payload);
    return { facts: readFacts(meta)!, meta };
  } catch (e) {
    if (!(e instanceof AuthctlError)) throw e;
    return { reason: e.message };
  }
}

/** The state as a table says it: `expiring in 3h, will refresh`. */
export function stateLabel(state: LoginState, expiresAt: Date | null, now: number): string {
  const left = expiresAt ? expiresAt.getTime() - now : 0;
  switch (state) {
    case "expiring-refreshable":
      return `expiring in ${spanText(left)}, will refresh`;
    case "expiring":
      return `expiring in ${spanText(left)}, needs login`;
    case "expired-refreshable":
      return `expired ${spanText(left)} ago, will refresh`;
    case "expired":
      return expiresAt ? `expired ${spanText(left)} ago, needs login` : "expired, needs login";
    case "locked":
      return "locked (store key unavailable)";
    default:
      return state;
  }
}

/** What every status row carries besides its name and source. */
export interface StateFields {
  state: LoginState;
  /** The state in words, with how long: `expiring in 3h, will refresh`. */
  label: string;
  /** A refresh token and its refresher exist: the next use renews the token without a login. */
  refreshable: boolean;
  /** When the stored secret stops working (a refreshing login's access token), ISO 8601 UTC; null when never or unknown. */
  expiresAt: string | null;
}

interface RowLike {
  credentialSet: string;
  provider: string;
  /** `store` for a stored row; anything else (an env var, missing) keeps its state. */
  source: string | null;
  state: string;
  kind: string | null;
  expiresAt: string | null;
}

/** A stored row's state read from its payload: a row written before rows kept facts, or whose facts do not read. */
async function openedState(store: CredentialStore, r: RowLike, roster: Roster | undefined, now: number, expiresAt: Date | null): Promise<LoginStateOf & { meta?: RowMeta }> {
  let row: StoredCredential | undefined;
  try {
    row = store.get(r.credentialSet, r.provider);
  } catch (e) {
    if (!(e instanceof AuthctlError)) throw e;
    return { state: "unknown", expiresAt, refreshable: false, reason: e.message };
  }
  if (!row) return { state: "missing", expiresAt: null, refreshable: false };
  const { facts, meta, reason } = await factsOfPayload(row);
  if (!facts) return { state: "unknown", expiresAt: row.expiresAt, refreshable: false, reason: reason! };
  return { ...stateOfFacts(facts, row.expiresAt, entryOf(roster, r.provider), now), meta: meta! };
}

const entryOf = (roster: Roster | undefined, provider: string) => (roster?.has(provider) ? roster.get(provider) : undefined);

/** Kinds whose rows never expire or refresh: their state needs neither the payload nor the roster. */
const PLAIN_KINDS = new Set(["api_key", "command"]);

/**
 * Keeps facts with their rows, where the store can be written: rows written before rows kept
 * facts get them (the next listing opens no payload), and `extra` (the account a check saw) is
 * added. A store that cannot take them now (busy, read-only) is left for the next time: what was
 * shown is right either way.
 */
export async function keepFacts(store: CredentialStore, rows: ReadonlyArray<{ credentialSet: string; provider: string; extra?: RowMeta }>): Promise<void> {
  if (rows.length === 0 || store.readOnlyReason) return;
  const { factsOf, readPayload } = await import("../credentials/index.js");
  const extra = new Map(rows.map((r) => [`${r.credentialSet}\0${r.provider}`, r.extra]));
  try {
    store.annotate(rows, ({ credentialSet, provider, current, kind, payloadJson }) => ({
      // Facts another writer added meanwhile are newer than any payload read before.
      ...(current?.type ? current : factsOf(readPayload(`${credentialSet}:${provider}`, kind, JSON.parse(payloadJson)))),
      ...extra.get(`${credentialSet}\0${provider}`),
    }));
  } catch (e) {
    if (!(e instanceof AuthctlError)) throw e;
  }
}

/**
 * Each row's state from its facts (the row's `meta`, read by the caller, nothing decrypted) or, for
 * a row without them, its typed credential (decrypted here, never returned); `locked` for every
 * stored row when the store key is unavailable. The roster is read only when a row may refresh.
 * The rows are filled in where they are (no copy each): a listing of 1,000 rows made 1,000 copies.
 */
export async function withLoginStates<R extends RowLike>(
  sources: { store: CredentialStore; now: number; roster: () => Roster | Promise<Roster> },
  rows: readonly R[],
  locked: boolean,
  factsOf: (r: R, index: number) => CredentialFacts | undefined = () => undefined,
): Promise<(Omit<R, keyof StateFields> & StateFields)[]> {
  const { store, now } = sources;
  const roster = !locked && rows.some((r) => r.source === "store" && !PLAIN_KINDS.has(r.kind ?? "")) ? await sources.roster() : undefined;
  const opened: { credentialSet: string; provider: string }[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const expiresAt = r.expiresAt ? new Date(r.expiresAt) : null;
    let found: LoginStateOf;
    const facts = r.source === "store" && !locked ? factsOf(r, i) : undefined;
    if (r.source !== "store") found = { state: r.state as LoginState, expiresAt, refreshable: false };
    else if (locked) found = { state: "locked", expiresAt, refreshable: false };
    else if (facts) found = stateOfFacts(facts, expiresAt, entryOf(roster, r.provider), now);
    else {
      const { meta, ...state } = await openedState(store, r, roster, now, expiresAt);
      if (meta) opened.push({ credentialSet: r.credentialSet, provider: r.provider });
      found = state;
    }
    const row = r as unknown as StateFields;
    row.state = found.state;
    row.expiresAt = found.expiresAt === expiresAt && expiresAt !== null ? r.expiresAt : (found.expiresAt?.toISOString() ?? null);
    row.label = found.reason ? `unknown: ${found.reason}` : stateLabel(found.state, found.expiresAt, now);
    row.refreshable = found.refreshable;
  }
  await keepFacts(store, opened);
  return rows as unknown as (Omit<R, keyof StateFields> & StateFields)[];
}
