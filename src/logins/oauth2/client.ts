import type { Configuration, TokenEndpointResponse } from "openid-client";
import type { Authctl } from "../../context.js";
import { ModeUnavailableError, UsageError } from "../../core/errors.js";
import type { OAuth2DeviceConfig, OAuth2PkceConfig } from "../../roster/hostFlowSchema.js";
import type { Provider } from "../../roster/schema.js";
import type { HostLoginOptions } from "../hostLogin.js";

export type OAuth2Flow = OAuth2DeviceConfig | OAuth2PkceConfig;

/** What a generic OAuth 2.0 login stores (enough to refresh without the roster's secret source). */
export interface OAuth2Payload {
  type: "oauth2";
  clientId: string;
  clientSecret?: string;
  access_token: string;
  refresh_token?: string;
  token_type?: string;
  scope?: string;
  /** Epoch ms, when the server said. */
  expires_at?: number;
}

export function oauth2Flow(entry: Provider): OAuth2Flow {
  const flow = entry.host_flow;
  if (flow?.flow !== "oauth2_device" && flow?.flow !== "oauth2_pkce") {
    throw new ModeUnavailableError(`${entry.name} is not a generic OAuth 2.0 provider (host_flow.flow oauth2_device or oauth2_pkce)`);
  }
  return flow;
}

/**
 * GitHub answers a pending device-code poll with HTTP 200 and `{"error":"authorization_pending"}`
 * (and `slow_down` the same way); openid-client expects RFC 8628's 400. Re-status such bodies.
 */
export async function errorBodiesAs400(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status !== 200 || !(response.headers.get("content-type") ?? "").includes("json")) return response;
  const text = await response.text();
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  return new Response(text, { status: typeof error === "string" ? 400 : 200, headers: response.headers });
}

export function clientCredentials(context: Authctl, entry: Provider, flow: OAuth2Flow, options: HostLoginOptions): { clientId: string; clientSecret?: string } {
  const clientId = options.clientId ?? flow.client_id;
  if (!clientId) throw new UsageError(`${entry.name}: no client id: pass --client-id, or set host_flow.client_id in ${context.paths.userRoster}/${entry.name}.yaml`);
  const clientSecret = options.clientSecret ?? (flow.client_secret_env ? context.env[flow.client_secret_env] : undefined);
  if (flow.token_auth_method !== "none" && !clientSecret) {
    throw new UsageError(`${entry.name}: ${flow.token_auth_method} needs a client secret: pipe it to --client-secret-stdin${flow.client_secret_env ? ` or set ${flow.client_secret_env}` : ""}`);
  }
  return { clientId, ...(clientSecret ? { clientSecret } : {}) };
}

export async function oauth2Configuration(flow: OAuth2Flow, clientId: string, clientSecret: string | undefined): Promise<Configuration> {
  const oidc = await import("openid-client");
  const server = {
    issuer: new URL(flow.token_endpoint).origin,
    token_endpoint: flow.token_endpoint,
    ...(flow.flow === "oauth2_device" ? { device_authorization_endpoint: flow.device_authorization_endpoint } : { authorization_endpoint: flow.authorization_endpoint }),
  };
  const auth =
    flow.token_auth_method === "client_secret_post" ? oidc.ClientSecretPost(clientSecret) : flow.token_auth_method === "client_secret_basic" ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
  const config = new oidc.Configuration(server, clientId, clientSecret, auth);
  config[oidc.customFetch] = errorBodiesAs400;
  if (Object.values(server).some((u) => u.startsWith("http:"))) oidc.allowInsecureRequests(config);
  return config;
}

export function payloadFrom(tokens: TokenEndpointResponse, clientId: string, clientSecret: string | undefined, now: number, previous?: OAuth2Payload): OAuth2Payload {
  const refresh = tokens.refresh_token ?? previous?.refresh_token;
  const scope = tokens.scope ?? previous?.scope;
  return {
    type: "oauth2",
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    access_token: tokens.access_token,
    ...(refresh ? { refresh_token: refresh } : {}),
    ...(tokens.token_type ? { token_type: tokens.token_type } : {}),
    ...(scope ? { scope } : {}),
    ...(tokens.expires_in !== undefined ? { expires_at: now + tokens.expires_in * 1000 } : {}),
  };
}

/** A refreshable login has no row expiry; otherwise the access token's. */
export const rowExpiry = (p: OAuth2Payload) => (p.refresh_token || p.expires_at === undefined ? null : new Date(p.expires_at));

/** openid-client errors carry the OAuth `error` code; keep that, never a request body. */
export function oauthFailure(e: unknown): string {
  const code = (e as { error?: unknown; code?: unknown }).error ?? (e as { code?: unknown }).code;
  return typeof code === "string" ? code : String((e as Error).message ?? e).split("\n")[0]!.slice(0, 160);
}
