import { AuthctlError } from "../core/errors.js";
import { spanText } from "../core/clock.js";
import { credentialType, typedCredential, type CredentialPayload } from "../credentials/index.js";
import { msalAccessTokenExpiry } from "../credentials/msal.js";
import { accessTokenExpiry } from "../credentials/oauth2.js";
import type { Roster } from "../roster/load.js";
import type { Provider } from "../roster/schema.js";
import type { CredentialStore, StoredCredential } from "../store/store.js";

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
function refresherExists(payload: CredentialPayload, entry: Provider | undefined): boolean {
  const flow = entry?.host_flow?.flow;
  switch (payload.type) {
    case "oauth":
      return Boolean(credentialType(payload).refreshToken?.(payload) && entry?.proxy?.oauth?.refresh);
    case "oauth2":
      return Boolean(credentialType(payload).refreshToken?.(payload) && (flow === "oauth2_device" || flow === "oauth2_pkce"));
    case "google_oauth":
      return Boolean(credentialType(payload).refreshToken?.(payload) && flow === "google_pkce");
    case "msal":
      // MSAL's serialized cache keeps the refresh token next to the access token.
      return flow === "msal_device_code";
    default:
      return false;
  }
}

/** The access token's own expiry where the type knows one, else the row's. */
function secretExpiry(payload: CredentialPayload, rowExpiry: Date | null): Date | null {
  if (payload.type === "oauth2") return accessTokenExpiry(payload) ?? rowExpiry;
  if (payload.type === "msal") return msalAccessTokenExpiry(payload) ?? rowExpiry;
  return rowExpiry;
}

export function stateFromExpiry(expiresAt: Date | null, refreshable: boolean, now: number): LoginState {
  if (!expiresAt) return "valid";
  const left = expiresAt.getTime() - now;
  if (left <= 0) return refreshable ? "expired-refreshable" : "expired";
  if (left <= EXPIRING_WITHIN_MS) return refreshable ? "expiring-refreshable" : "expiring";
  return "valid";
}

/** One stored login's state from its typed payload (read, never shown) and the roster entry of its provider. */
export function loginStateOf(row: StoredCredential, entry: Provider | undefined, now: number): LoginStateOf {
  let payload: CredentialPayload;
  try {
    payload = typedCredential(row).payload;
  } catch (e) {
    if (!(e instanceof AuthctlError)) throw e;
    return { state: "unknown", expiresAt: row.expiresAt, refreshable: false, reason: e.message };
  }
  const refreshable = refresherExists(payload, entry);
  const expiresAt = secretExpiry(payload, row.expiresAt);
  return { state: stateFromExpiry(expiresAt, refreshable, now), expiresAt, refreshable };
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

function storedState(store: CredentialStore, r: RowLike, roster: Roster | undefined, now: number, expiresAt: Date | null): LoginStateOf {
  let row: StoredCredential | undefined;
  try {
    row = store.get(r.credentialSet, r.provider);
  } catch (e) {
    if (!(e instanceof AuthctlError)) throw e;
    return { state: "unknown", expiresAt, refreshable: false, reason: e.message };
  }
  if (!row) return { state: "missing", expiresAt: null, refreshable: false };
  return loginStateOf(row, roster?.has(r.provider) ? roster.get(r.provider) : undefined, now);
}

/** Kinds whose rows never expire or refresh: their state needs neither the payload nor the roster. */
const PLAIN_KINDS = new Set(["api_key", "command"]);

/**
 * Each row's state from its typed credential (decrypted here, never returned), or `locked` for
 * every stored row when the store key is unavailable. The roster is read only when a row may refresh.
 */
export async function withLoginStates<R extends RowLike>(
  sources: { store: CredentialStore; now: number; roster: () => Roster | Promise<Roster> },
  rows: readonly R[],
  locked: boolean,
): Promise<(Omit<R, keyof StateFields> & StateFields)[]> {
  const { store, now } = sources;
  const roster = !locked && rows.some((r) => r.source === "store" && !PLAIN_KINDS.has(r.kind ?? "")) ? await sources.roster() : undefined;
  return rows.map((r) => {
    const expiresAt = r.expiresAt ? new Date(r.expiresAt) : null;
    let found: LoginStateOf;
    if (r.source !== "store") found = { state: r.state as LoginState, expiresAt, refreshable: false };
    else if (locked) found = { state: "locked", expiresAt, refreshable: false };
    else {
      found = storedState(store, r, roster, now, expiresAt);
    }
    const label = found.reason ? `unknown: ${found.reason}` : stateLabel(found.state, found.expiresAt, now);
    return { ...r, state: found.state, label, refreshable: found.refreshable, expiresAt: found.expiresAt?.toISOString() ?? null };
  });
}
