import type { LookupFunction } from "node:net";
import type { Configuration, TokenEndpointResponse } from "openid-client";
import type { Authctl } from "../../context.js";
import { HttpExchangeError, ModeUnavailableError, UsageError } from "../../core/errors.js";
import { httpCall, TOKEN_RESPONSE_LIMIT } from "../../core/http.js";
import { addressRefusal } from "../../core/netGuard.js";
import type { OAuth2DeviceConfig, OAuth2PkceConfig } from "../../roster/hostFlowSchema.js";
import type { Provider } from "../../roster/schema.js";
import type { HostLoginOptions } from "../hostLogin.js";
import { identityLookup } from "../tokenGuard.js";

export type OAuth2Flow = OAuth2DeviceConfig | OAuth2PkceConfig;

import { oauth2 as oauth2Type, type OAuth2Payload } from "../../credentials/oauth2.js";

export type { OAuth2Payload } from "../../credentials/oauth2.js";

export function oauth2Flow(entry: Provider): OAuth2Flow {
  const flow = entry.host_flow;
  if (flow?.flow !== "oauth2_device" && flow?.flow !== "oauth2_pkce") {
    throw new ModeUnavailableError(`${entry.name} is not a generic OAuth 2.0 provider (host_flow.flow oauth2_device or oauth2_pkce)`);
  }
  return flow;
}

/**
 * Any host flow as generic OAuth 2.0: Microsoft's endpoints as a device flow (polled here, not by
 * MSAL, which cannot resume a poll `authctl session capture` takes over in a new process),
 * Google's as authorization code + PKCE.
 */
export function genericFlowOf(entry: Provider, tenantId?: string): OAuth2Flow {
  const flow = entry.host_flow;
  if (flow?.flow === "google_pkce") {
    // Google is standard authorization code + PKCE; its installed-app secret goes in the body.
    const { client_id, client_secret_env, scopes, auth_endpoint, token_endpoint } = flow;
    return { flow: "oauth2_pkce", client_id, client_secret_env, token_auth_method: "client_secret_post", scopes, authorization_endpoint: auth_endpoint, token_endpoint };
  }
  if (flow?.flow !== "msal_device_code") return oauth2Flow(entry);
  const metadata = flow.authority_metadata as { token_endpoint?: string; device_authorization_endpoint?: string } | undefined;
  const token = metadata?.token_endpoint ?? `https://${flow.authority_host}/${tenantId ?? flow.tenant_id}/oauth2/v2.0/token`;
  return {
    flow: "oauth2_device",
    client_id: flow.client_id,
    token_auth_method: "none",
    // What MSAL adds to every request: an id token and client_info for the account, a refresh token.
    scopes: [...new Set([...flow.scopes, "openid", "profile", "offline_access"])],
    device_authorization_endpoint: metadata?.device_authorization_endpoint ?? token.replace(/\/token$/, "/devicecode"),
    token_endpoint: token,
  };
}

class UnreachableError extends Error {}

/** Where a token answer's id token goes, past openid-client's OpenID Connect checks (see tokenEndpointFetch). */
export const UNCHECKED_ID_TOKEN = "authctl_unchecked_id_token";

/** openid-client's own deadline for one request, kept now that the exchange is ours. */
const TOKEN_ENDPOINT_TIMEOUT_MS = 30_000;

/** One exchange with a login endpoint through `lookup` (the address guard), its answer read up to the token-response cap. */
export async function boundedFetch(lookup: LookupFunction, url: string, init: RequestInit): Promise<Response> {
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  const body = init.body === undefined || init.body === null ? undefined : String(init.body);
  const reply = await httpCall({
    url,
    method: init.method ?? "GET",
    headers,
    ...(body === undefined ? {} : { body }),
    timeoutMs: TOKEN_ENDPOINT_TIMEOUT_MS,
    maxBytes: TOKEN_RESPONSE_LIMIT,
    lookup,
    ...(init.signal ? { signal: init.signal } : {}),
  }).catch((error: unknown) => {
    if (error instanceof HttpExchangeError || addressRefusal(error) || init.signal?.aborted) throw error;
    const code = (error as { code?: unknown }).code;
    throw new UnreachableError(`could not reach ${new URL(url).host}${typeof code === "string" ? ` (${code})` : ""}: check the network, or the endpoint in the roster`);
  });
  const replyHeaders = new Headers();
  for (const [name, value] of Object.entries(reply.headers)) {
    if (value !== undefined) replyHeaders.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const empty = reply.body === "" || reply.status === 204 || reply.status === 304;
  return new Response(empty ? null : reply.body, { status: reply.status, headers: replyHeaders });
}

/**
 * The token endpoint's answers, read within a cap and adjusted for what openid-client expects:
 * - GitHub answers a pending device-code poll with HTTP 200 and `{"error":"authorization_pending"}`
 *   (and `slow_down` the same way); RFC 8628 says 400. Such bodies are re-statused 400.
 * - An `id_token` is moved aside to `UNCHECKED_ID_TOKEN`: authctl does OAuth 2.0, not OpenID Connect,
 *   and openid-client would check it against an issuer these roster entries do not declare
 *   (Microsoft's multi-tenant issuer is a template). MSAL gets it back when it builds its cache from
 *   the answer; a Google login keeps it for its callers, as google-auth-library did.
 */
export const tokenEndpointFetch = (lookup: LookupFunction) => async (url: string, init: RequestInit): Promise<Response> => {
  const response = await boundedFetch(lookup, url, init);
  if (response.status !== 200 || !(response.headers.get("content-type") ?? "").includes("json")) return response;
  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return new Response(text, { status: 200, headers: response.headers });
  }
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  if (typeof body.error === "string") return new Response(text, { status: 400, headers });
  if (body.id_token !== undefined) body[UNCHECKED_ID_TOKEN] = body.id_token;
  delete body.id_token;
  return new Response(JSON.stringify(body), { status: 200, headers });
};

export function clientCredentials(context: Authctl, entry: Provider, flow: OAuth2Flow, options: HostLoginOptions): { clientId: string; clientSecret?: string } {
  const clientId = options.clientId ?? flow.client_id;
  if (!clientId) throw new UsageError(`${entry.name}: no client id: pass --client-id, or set host_flow.client_id in ${context.paths.userRoster}/${entry.name}.yaml`);
  const clientSecret = options.clientSecret ?? (flow.client_secret_env ? context.env[flow.client_secret_env] : undefined);
  // Google's installed-app clients may go without their secret (PKCE alone), as its own library lets them.
  const secretOptional = entry.host_flow?.flow === "google_pkce";
  if (flow.token_auth_method !== "none" && !clientSecret && !secretOptional) {
    throw new UsageError(`${entry.name}: ${flow.token_auth_method} needs a client secret: pipe it to --client-secret-stdin${flow.client_secret_env ? ` or set ${flow.client_secret_env}` : ""}`);
  }
  return { clientId, ...(clientSecret ? { clientSecret } : {}) };
}

/**
 * openid-client's configuration for `flow`; every request it makes goes through the identity
 * endpoints' address guard of `dial.entry`, resolved as `dial.context` says.
 */
export async function oauth2Configuration(flow: OAuth2Flow, clientId: string, clientSecret: string | undefined, dial: { context: Authctl; entry: Provider }): Promise<Configuration> {
  const oidc = await import("openid-client");
  const server = {
    issuer: new URL(flow.token_endpoint).origin,
    token_endpoint: flow.token_endpoint,
    ...(flow.flow === "oauth2_device" ? { device_authorization_endpoint: flow.device_authorization_endpoint } : { authorization_endpoint: flow.authorization_endpoint }),
  };
  const method = clientSecret ? flow.token_auth_method : "none";
  const auth = method === "client_secret_post" ? oidc.ClientSecretPost(clientSecret) : method === "client_secret_basic" ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
  const config = new oidc.Configuration(server, clientId, clientSecret, auth);
  config[oidc.customFetch] = tokenEndpointFetch(identityLookup(dial.context, dial.entry));
  if (Object.values(server).some((u) => u.startsWith("http:"))) oidc.allowInsecureRequests(config);
  return config;
}

export function payloadFrom(tokens: TokenEndpointResponse, clientId: string, clientSecret: string | undefined, now: number, previous?: OAuth2Payload): OAuth2Payload {
  const refresh = tokens.refresh_token ?? previous?.refresh_token;
  const scope = tokens.scope ?? previous?.scope;
  return {
    type: "oauth2",
    clientId,
    ...(previous?.grant ? { grant: previous.grant } : {}),
    ...(clientSecret ? { clientSecret } : {}),
    access_token: tokens.access_token,
    ...(refresh ? { refresh_token: refresh } : {}),
    ...(tokens.token_type ? { token_type: tokens.token_type } : {}),
    ...(scope ? { scope } : {}),
    ...(tokens.expires_in !== undefined ? { expires_at: now + tokens.expires_in * 1000 } : {}),
  };
}

/** A refreshable login has no row expiry; otherwise the access token's. */
export const rowExpiry = (p: OAuth2Payload) => oauth2Type.expiresAt(p);

/** openid-client errors carry the OAuth `error` code; keep that, never a request body. */
export function oauthFailure(e: unknown): string {
  // openid-client wraps what its fetch threw as "something went wrong": the host is in the cause.
  const unreachable = addressRefusal(e) ?? [e, (e as { cause?: unknown } | null)?.cause].find((x) => x instanceof UnreachableError || x instanceof HttpExchangeError);
  if (unreachable) return (unreachable as Error).message;
  const code = (e as { error?: unknown; code?: unknown }).error ?? (e as { code?: unknown }).code;
  return typeof code === "string" ? code : String((e as Error).message ?? e).split("\n")[0]!.slice(0, 160);
}
