import type { LookupFunction } from "node:net";
import type { Authctl } from "../context.js";
import { CredentialRefreshError } from "../core/errors.js";
import { httpCall, TOKEN_RESPONSE_LIMIT } from "../core/http.js";
import { recordCredential } from "../credentials/index.js";
import { containerLogin, rotatedLogin, type ContainerLoginPayload as OAuthPayload } from "../credentials/containerLogin.js";
import type { ProxyOAuthRoute } from "../roster/proxySchema.js";
import type { StoredCredential } from "../store/store.js";
import { refreshLeaseKey } from "../store/lease.js";
import { guardedLookup, type ResolveUpstream } from "./upstreamGuard.js";

type RefreshConfig = NonNullable<ProxyOAuthRoute["refresh"]>;

/** Refresh this long before `expires_at`, so a request never leaves with a token about to lapse. */
const EXPIRY_SKEW_MS = 120_000;
const LEASE_MS = 60_000;

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
}

/**
 * POSTs JSON with a timeout and a cap on the answer; never follows a redirect (the body holds a
 * refresh token). `lookup` resolves and checks the host (the upstream guard) when given.
 */
export async function postJson(url: string, body: unknown, timeoutMs: number, signal?: AbortSignal, lookup?: LookupFunction): Promise<{ status: number; json: unknown }> {
  const reply = await httpCall({
    url,
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
    timeoutMs,
    maxBytes: TOKEN_RESPONSE_LIMIT,
    ...(signal ? { signal } : {}),
    ...(lookup ? { lookup } : {}),
  });
  let json: unknown;
  try {
    json = JSON.parse(reply.body);
  } catch {
    json = undefined;
  }
  return { status: reply.status, json };
}

/**
 * The one refresher of each OAuth login. Vendors' refresh tokens are single-use: two refreshers
 * of one login log the user out. In this process one flight per (set, provider); across processes
 * the store's lease on the login, under which the credential row is re-read before refreshing.
 */
export class RefreshOwner {
  private readonly inflight = new Map<string, Promise<StoredCredential<OAuthPayload>>>();
  /** How many refresh calls this owner sent (the tests' and the audit's view of "exactly one"). */
  refreshCalls = 0;
  private readonly timeoutMs: number;
  /** The token endpoint is dialled like any upstream: its address checked after resolution, once per connection. */
  private readonly lookup: LookupFunction;

  constructor(
    private readonly context: Authctl,
    options: { timeoutMs?: number; resolveUpstream?: ResolveUpstream } = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.lookup = guardedLookup(options.resolveUpstream, "refresh.token_url");
  }

  /**
   * The credential, refreshed first when it expires soon or when `rejected` (the access token an
   * upstream just answered 401 to) is still the stored one. Concurrent callers share one refresh.
   */
  async fresh(credentialSet: string, provider: string, config: RefreshConfig, rejected?: string, signal?: AbortSignal): Promise<StoredCredential<OAuthPayload>> {
    const current = this.context.store().get<OAuthPayload>(credentialSet, provider);
    if (current && !this.needsRefresh(current, rejected)) return current;
    const key = `${credentialSet}\0${provider}`;
    let flight = this.inflight.get(key);
    if (!flight) {
      flight = this.refresh(credentialSet, provider, config, rejected, signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    return flight;
  }

  private needsRefresh(credential: StoredCredential<OAuthPayload>, rejected: string | undefined): boolean {
    if (rejected !== undefined) return containerLogin.secret(credential.payload) === rejected;
    return credential.expiresAt !== null && credential.expiresAt.getTime() - EXPIRY_SKEW_MS <= this.context.clock.now();
  }

  private refresh(credentialSet: string, provider: string, config: RefreshConfig, rejected: string | undefined, signal?: AbortSignal): Promise<StoredCredential<OAuthPayload>> {
    const store = this.context.store();
    return store.lease(refreshLeaseKey(credentialSet, provider), LEASE_MS, async () => {
      const locked = store.get<OAuthPayload>(credentialSet, provider);
      if (!locked) throw new CredentialRefreshError(`no credentials for ${credentialSet}:${provider} to refresh`);
      if (!this.needsRefresh(locked, rejected)) return locked;
      const refreshToken = containerLogin.refreshToken!(locked.payload);
      if (!refreshToken) throw new CredentialRefreshError(`${credentialSet}:${provider} has no refresh token: log in again (authctl auth ${provider})`);
      this.refreshCalls++;
      const { status, json } = await postJson(
        config.token_url,
        { grant_type: "refresh_token", refresh_token: refreshToken, client_id: config.client_id },
        this.timeoutMs,
        signal,
        this.lookup,
      ).catch((error: Error) => {
        throw new CredentialRefreshError(`refreshing ${credentialSet}:${provider} failed: ${error.message.replace(/^authctl proxy: /, "")}`, { cause: error });
      });
      const tokens = json as Partial<TokenResponse> | undefined;
      if (status !== 200 || typeof tokens?.access_token !== "string") {
        const code = typeof (json as { error?: unknown })?.error === "string" ? ` (${String((json as { error: string }).error).slice(0, 60)})` : "";
        throw new CredentialRefreshError(`the vendor refused to refresh ${credentialSet}:${provider}: HTTP ${status}${code}; log in again (authctl auth ${provider})`);
      }
      const payload = rotatedLogin(locked.payload, tokens as TokenResponse);
      const expiresAt = typeof tokens.expires_in === "number" ? new Date(this.context.clock.now() + tokens.expires_in * 1000) : null;
      recordCredential(this.context, { credentialSet, provider, payload, preview: locked.preview, expiresAt, op: "refreshed" });
      return store.get<OAuthPayload>(credentialSet, provider)!;
    }, { waitMs: this.timeoutMs + LEASE_MS, ...(signal ? { signal } : {}) });
  }
}
