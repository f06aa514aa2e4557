import type { Credentials, OAuth2Client } from "google-auth-library";
import type { LookupFunction } from "node:net";
import { contextFrom, type Authctl } from "../../context.js";
import { CaptureError, ModeUnavailableError } from "../../core/errors.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { GooglePkceConfig } from "../../roster/hostFlowSchema.js";
import type { Provider } from "../../roster/schema.js";
import type { HostLoginSummary } from "../hostLogin.js";
import { hostAppOptions, storedHostLogin, type HostAppOptions } from "../hostLogin.js";

import { recordCredential } from "../../credentials/index.js";
import type { GooglePayload } from "../../credentials/google.js";

export type { GooglePayload } from "../../credentials/google.js";

function googleFlow(entry: Provider): GooglePkceConfig {
  if (entry.host_flow?.flow !== "google_pkce") {
    throw new ModeUnavailableError(`${entry.name} is not a Google (google_pkce) provider; use one whose host_flow.flow is google_pkce, such as google`);
  }
  return entry.host_flow;
}

/**
 * google-auth-library's fetch: every request it makes (the refresh carries the refresh token and
 * the client secret) goes through the identity endpoints' address guard and the token-response
 * cap. Its form bodies come as URLSearchParams, whose content type fetch would have set.
 */
async function guardedFetch(lookup: LookupFunction): Promise<typeof fetch> {
  const { boundedFetch } = await import("../oauth2/client.js");
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const body = init.body;
    if (body instanceof URLSearchParams && !headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
    if (body != null && typeof body !== "string" && !(body instanceof URLSearchParams)) throw new TypeError("authctl sends google-auth-library's requests with a text or form body only");
    return boundedFetch(lookup, input instanceof Request ? input.url : String(input), { ...init, headers });
  }) as typeof fetch;
}

async function googleClient(flow: GooglePkceConfig, clientId: string, clientSecret: string | undefined, lookup: LookupFunction): Promise<OAuth2Client> {
  const { OAuth2Client } = await import("google-auth-library");
  return new OAuth2Client({
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    endpoints: { oauth2AuthBaseUrl: flow.auth_endpoint, oauth2TokenUrl: flow.token_endpoint },
    transporterOptions: { fetchImplementation: await guardedFetch(lookup) },
  });
}

/**
 * A Google login's tokens as google-auth-library keeps them (its `Credentials`), stored as the row.
 * The login itself runs through openid-client with every other host login (oauth2/login.ts); this
 * library stays for what callers get at run time (`buildGoogleCredentials`).
 */
export function storeGoogleTokens(
  context: Authctl,
  target: { provider: string; credentialSet: string; clientId: string; clientSecret?: string | undefined; scopes: string[] },
  tokens: Credentials,
): HostLoginSummary {
  const { provider, credentialSet, clientId, clientSecret, scopes } = target;
  if (!tokens.access_token) throw new CaptureError(`${provider}: the token response has no access_token`);
  const payload: GooglePayload = { type: "google_oauth", clientId, ...(clientSecret ? { clientSecret } : {}), scopes, tokens };
  return recordCredential(context, { credentialSet, provider, payload, op: "captured" });
}

export interface BuildGoogleCredentialsOptions extends HostAppOptions {
  /** A roster provider whose host_flow is google_pkce; default `google`. */
  provider?: string;
}

/**
 * An `OAuth2Client` on the stored login of `options.provider` (default `google`) in
 * `options.credentialSet`. It refreshes from the stored refresh token; every new token is merged
 * into the row (Google's refresh response omits the refresh token, so the stored one is kept).
 */
export function buildGoogleCredentials(options?: BuildGoogleCredentialsOptions): Promise<OAuth2Client>;
/** @deprecated the set goes in the options: `buildGoogleCredentials({ credentialSet, provider })`. */
export function buildGoogleCredentials(account: string, options?: BuildGoogleCredentialsOptions): Promise<OAuth2Client>;
export async function buildGoogleCredentials(first?: string | BuildGoogleCredentialsOptions, second?: BuildGoogleCredentialsOptions): Promise<OAuth2Client> {
  const options = hostAppOptions("buildGoogleCredentials", first, second);
  const context = contextFrom(options);
  const entry = context.roster().get(options.provider ?? "google");
  const flow = googleFlow(entry);
  const row = storedHostLogin<GooglePayload>(context, entry, options.credentialSet ?? DEFAULT_SET, "google_oauth");
  const { credentialSet } = row;
  const { identityLookup } = await import("../tokenGuard.js");
  const client = await googleClient(flow, row.payload.clientId, row.payload.clientSecret, identityLookup(context, entry));
  client.setCredentials(row.payload.tokens);
  client.on("tokens", (fresh) => persistGoogleTokens(context, credentialSet, entry.name, fresh));
  return client;
}

function persistGoogleTokens(context: Authctl, credentialSet: string, provider: string, fresh: Credentials): void {
  const row = context.store().get<GooglePayload>(credentialSet, provider);
  if (!row) return;
  const tokens: Credentials = { ...row.payload.tokens, ...fresh, refresh_token: fresh.refresh_token ?? row.payload.tokens.refresh_token ?? null };
  recordCredential(context, { credentialSet, provider, payload: { ...row.payload, tokens }, op: "refreshed" });
}
