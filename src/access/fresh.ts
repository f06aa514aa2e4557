import type { Authctl } from "../context.js";
import { CredentialRefreshError, MissingCredentialsError } from "../core/errors.js";
import { addressRefusal } from "../core/netGuard.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { Provider } from "../roster/schema.js";
import { accessExpiry, credentialType, recordCredential, typedCredential, type CredentialPayload } from "../credentials/index.js";
import type { OAuth2Payload } from "../credentials/oauth2.js";
import type { MsalPayload } from "../credentials/msal.js";
import type { GooglePayload } from "../credentials/google.js";
import { refreshLeaseKey } from "../store/lease.js";
import { REFRESH_SKEW_MS } from "./freshness.js";
import type { StoredCredential } from "../store/store.js";

export { accessExpiry } from "../credentials/index.js";
export { REFRESH_SKEW_MS } from "./freshness.js";
/** Longer than one refresh may take (a token endpoint's timeout): a holder past it is presumed stuck. */
const LEASE_MS = 60_000;

export interface FreshOptions {
  /** Refresh when the access token lapses within this long (default `REFRESH_SKEW_MS`). */
  skewMs?: number;
  /**
   * The access token an upstream just answered 401 to: while it is still the stored one, the login
   * is refreshed whatever its expiry says (revoked, or rotated by the vendor), and a failed refresh
   * is an error rather than that token again.
   */
  rejected?: string;
  signal?: AbortSignal;
}

type HostLogin = OAuth2Payload | MsalPayload | GooglePayload;

export const isHostLogin = (p: CredentialPayload): p is HostLogin => p.type === "oauth2" || p.type === "msal" || p.type === "google_oauth";

/** Whether a host login must be refreshed before its access token is used (see `FreshOptions`); false for any other credential. */
export function refreshDue(context: Authctl, payload: CredentialPayload, options: Pick<FreshOptions, "skewMs" | "rejected"> = {}): payload is HostLogin {
  if (!isHostLogin(payload)) return false;
  if (options.rejected !== undefined) return credentialType(payload).secret(payload) === options.rejected;
  const expiry = accessExpiry(payload);
  return expiry != null && expiry.getTime() - (options.skewMs ?? REFRESH_SKEW_MS) <= context.clock.now();
}

/**
 * (set, provider)'s stored credential with an access token that works for `skewMs` more: a host
 * login (OAuth 2.0, MSAL, Google) whose token lapses sooner is refreshed first, by one process at
 * a time (the store's lease on the login), and the new tokens are stored before it is returned.
 * Any other credential is returned as stored; undefined when nothing is stored.
 */
export async function freshCredential(context: Authctl, credentialSet: string, provider: string, options: FreshOptions = {}): Promise<StoredCredential<CredentialPayload> | undefined> {
  const read = () => {
    const row = context.store().get(credentialSet, provider);
    return row && typedCredential(row);
  };
  const due = (row: StoredCredential<CredentialPayload> | undefined): row is StoredCredential<HostLogin> => row !== undefined && refreshDue(context, row.payload, options);
  const current = read();
  if (!due(current)) return current;
  const entry = context.roster().get(provider);
  return context.store().lease(
    refreshLeaseKey(credentialSet, provider),
    LEASE_MS,
    async () => {
      // Re-read under the lease: the holder before us may have refreshed it already.
      const locked = read();
      if (!due(locked)) return locked;
      try {
        await refresh(context, entry, locked);
      } catch (error) {
        // A token that still works for a moment is better than none when the vendor cannot be reached.
        const expiry = accessExpiry(locked.payload);
        if (options.rejected === undefined && expiry && expiry.getTime() > context.clock.now()) return locked;
        throw error;
      }
      return read();
    },
    { waitMs: 2 * LEASE_MS, ...(options.signal ? { signal: options.signal } : {}) },
  );
}

/** Exchanges the stored refresh token for new tokens and stores them (MSAL and google-auth-library store through their own hooks). */
async function refresh(context: Authctl, entry: Provider, row: StoredCredential<HostLogin>): Promise<void> {
  const { credentialSet } = row;
  const options = { context, provider: entry.name };
  const again = `log in again: ${fixCommandFor(entry, credentialSet)}`;
  // A refused address is no reason to log in again: its own message says what to change.
  const failed = (why: string, error?: unknown) => {
    const refused = addressRefusal(error);
    if (refused) return new CredentialRefreshError(`refreshing ${credentialSet}:${entry.name} failed: ${refused.message}`, { cause: refused });
    return new CredentialRefreshError(`the access token of ${credentialSet}:${entry.name} has expired and refreshing it failed (${why}); ${again}`);
  };
  const payload = row.payload;
  if (payload.type === "msal") {
    const { buildMsalApp } = await import("../logins/msal/app.js");
    const app = await buildMsalApp(credentialSet, options);
    const account = (await app.getTokenCache().getAllAccounts()).find((a) => a.homeAccountId === payload.homeAccountId);
    if (!account) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
    await app.acquireTokenSilent({ account, scopes: payload.scopes, forceRefresh: true }).catch((e: unknown) => {
      throw failed((e as { errorCode?: string }).errorCode ?? "MSAL error", e);
    });
    return;
  }
  if (payload.type === "google_oauth") {
    if (!payload.tokens.refresh_token) throw expiredWithoutRefresh(entry, credentialSet);
    const { buildGoogleCredentials } = await import("../logins/google/pkce.js");
    const client = await buildGoogleCredentials(credentialSet, options);
    await client.refreshAccessToken().catch((e: unknown) => {
      const status = (e as { response?: { status?: number } }).response?.status;
      throw failed(status ? `HTTP ${status}` : "network error", e);
    });
    return;
  }
  const refreshToken = payload.refresh_token;
  if (!refreshToken) throw expiredWithoutRefresh(entry, credentialSet);
  const { oauth2Configuration, oauth2Flow, oauthFailure, payloadFrom } = await import("../logins/oauth2/client.js");
  const { refreshTokenGrant } = await import("openid-client");
  const config = await oauth2Configuration(oauth2Flow(entry), payload.clientId, payload.clientSecret, { context, entry });
  const tokens = await refreshTokenGrant(config, refreshToken).catch((e: unknown) => {
    throw failed(oauthFailure(e), e);
  });
  recordCredential(context, { credentialSet, provider: entry.name, payload: payloadFrom(tokens, payload.clientId, payload.clientSecret, context.clock.now(), payload), op: "refreshed" });
}

function expiredWithoutRefresh(entry: Provider, credentialSet: string): MissingCredentialsError {
  const fix = fixCommandFor(entry, credentialSet);
  return new MissingCredentialsError(entry.name, credentialSet, fix, `the access token of ${credentialSet}:${entry.name} has expired and the login holds no refresh token; log in again: ${fix}`);
}
