import type { AuthenticationResult, INetworkModule, NetworkResponse } from "@azure/msal-node";
import type { LookupFunction } from "node:net";
import type { TokenEndpointResponse } from "openid-client";
import type { Authctl } from "../../context.js";
import { CaptureError } from "../../core/errors.js";
import { httpCall, TOKEN_RESPONSE_LIMIT } from "../../core/http.js";
import type { HostLoginSummary } from "../hostLogin.js";
import { identityLookup } from "../tokenGuard.js";
import { UNCHECKED_ID_TOKEN } from "../oauth2/client.js";
import { msalConfiguration, msalFlow, type MsalPayload } from "./app.js";
import { recordCredential } from "../../credentials/index.js";

interface MsalLoginTarget {
  provider: string;
  credentialSet: string;
  clientId: string;
  tenantId: string;
  scopes: string[];
}

/** MSAL's own deadline for a metadata request it makes itself. */
const METADATA_TIMEOUT_MS = 30_000;

/**
 * The end of a Microsoft device-code login, polled by openid-client like every other host login:
 * MSAL builds its cache (account, id, access and refresh tokens) from the poll's answer itself.
 * It is asked to redeem the poll's refresh token on a network that answers that one request with
 * the poll's answer: nothing more reaches the token endpoint, so the refresh token is neither
 * spent nor rotated, and the cache holds what Microsoft issued, as when MSAL polled.
 */
export async function storeMsalTokens(context: Authctl, target: MsalLoginTarget, tokens: TokenEndpointResponse): Promise<HostLoginSummary> {
  const refreshToken = tokens.refresh_token;
  if (!refreshToken) throw new CaptureError(`${target.provider}: the device-code login returned no refresh token (add offline_access to the scopes)`);
  const entry = context.roster().get(target.provider);
  const { PublicClientApplication } = await import("@azure/msal-node");
  const configuration = msalConfiguration(msalFlow(entry), target.clientId, target.tenantId);
  const app = new PublicClientApplication({ ...configuration, system: { ...configuration.system, networkClient: replayNetwork(target.provider, tokens, refreshToken, identityLookup(context, entry)) } });
  let result: AuthenticationResult | null;
  try {
    // forceCache: the account is new to this cache (MSAL otherwise keeps only refreshes of accounts it holds).
    result = await app.acquireTokenByRefreshToken({ refreshToken, scopes: target.scopes, forceCache: true });
  } catch (e) {
    throw loginFailure(target.provider, e);
  }
  if (!result?.account) throw new CaptureError(`${target.provider}: the login finished without an account`);
  const { provider, credentialSet, clientId, tenantId, scopes } = target;
  const payload: MsalPayload = {
    type: "msal",
    clientId,
    tenantId,
    scopes,
    homeAccountId: result.account.homeAccountId,
    username: result.account.username,
    tokenCache: app.getTokenCache().serialize(),
  };
  return recordCredential(context, { credentialSet, provider, payload, op: "captured" });
}

/**
 * MSAL's network for that one redemption: the token request for `refreshToken` is answered, once,
 * with the poll's answer (its id token put back where openid-client's fetch moved it aside); any
 * other token request is refused. Authority metadata a tenant needs is fetched as MSAL would,
 * within the token-response cap and through the identity endpoints' address guard.
 */
function replayNetwork(provider: string, tokens: TokenEndpointResponse, refreshToken: string, lookup: LookupFunction): INetworkModule {
  const { [UNCHECKED_ID_TOKEN]: idToken, ...answer } = tokens;
  let replayed = false;
  return {
    async sendGetRequestAsync<T>(url: string, options?: { headers?: Record<string, string> }, timeout?: number): Promise<NetworkResponse<T>> {
      const reply = await httpCall({ url, headers: options?.headers ?? {}, timeoutMs: timeout ?? METADATA_TIMEOUT_MS, maxBytes: TOKEN_RESPONSE_LIMIT, lookup });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(reply.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      let body: T;
      try {
        body = JSON.parse(reply.body) as T;
      } catch {
        throw new CaptureError(`${provider}: ${new URL(url).host} answered a metadata request with something other than JSON (HTTP ${reply.status})`);
      }
      return { status: reply.status, headers, body };
    },
    async sendPostRequestAsync<T>(_url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
      const form = new URLSearchParams(options?.body ?? "");
      if (replayed || form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== refreshToken) {
        throw new CaptureError(`${provider}: MSAL asked for another token while storing the login; nothing was sent`);
      }
      replayed = true;
      return { status: 200, headers: {}, body: { ...answer, ...(typeof idToken === "string" ? { id_token: idToken } : {}) } as T };
    },
  };
}

/** MSAL errors carry server text; keep the code, never a token. */
function loginFailure(provider: string, e: unknown): Error {
  if (e instanceof CaptureError) return e;
  const code = (e as { errorCode?: string }).errorCode;
  return new CaptureError(`${provider}: the Microsoft login failed${code ? ` (${code})` : ""}: ${String((e as Error).message ?? e).split("\n")[0]!.slice(0, 200)}`, { cause: e });
}
