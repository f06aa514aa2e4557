import * as z from "zod";
import { lazy } from "../core/lazy.js";

/**
 * Logins that run on the host instead of in a container (docs/logging-in.md): Microsoft's device code via
 * MSAL, Google's installed-app PKCE, and generic OAuth 2.0 device code / PKCE for providers
 * declared only in YAML. Every endpoint is a field so a user roster file can point it at a
 * sovereign cloud or a test's local fake server.
 */
const scopes = lazy(() => z.array(z.string().min(1)).min(1, "must list at least one scope"));
const clientId = lazy(() => z.string().min(1).optional());
const envVar = lazy(() => z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name (A-Z, 0-9, _)"));
const httpUrl = lazy(() => z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }));

export const MsalDeviceCodeSchema = lazy(() => z.strictObject({
  flow: z.literal("msal_device_code"),
  client_id: clientId,
  tenant_id: z.string().min(1).default("organizations"),
  scopes,
  /** login.microsoftonline.com, or a sovereign cloud's host (login.microsoftonline.us, login.chinacloudapi.cn). */
  authority_host: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/, "must be a host name (no scheme, no path)").default("login.microsoftonline.com"),
  /** The authority's OpenID configuration, given instead of fetched (offline clouds, tests). */
  authority_metadata: z.record(z.string(), z.unknown()).optional(),
}));

export const GooglePkceSchema = lazy(() => z.strictObject({
  flow: z.literal("google_pkce"),
  client_id: clientId,
  /** Google's installed-app clients have a (non-confidential) secret; read from this env var or `--client-secret-stdin`. */
  client_secret_env: envVar.optional(),
  scopes,
  auth_endpoint: httpUrl.default("https://accounts.google.com/o/oauth2/v2/auth"),
  token_endpoint: httpUrl.default("https://oauth2.googleapis.com/token"),
}));

/** What both generic OAuth 2.0 flows declare: the client, how it authenticates, scopes, the token endpoint. */
const oauth2Client = lazy(() => ({
  client_id: clientId,
  client_secret_env: envVar.optional(),
  token_auth_method: z.enum(["none", "client_secret_post", "client_secret_basic"]).default("none"),
  scopes: z.array(z.string().min(1)).default([]),
  token_endpoint: httpUrl,
}));

export const OAuth2DeviceSchema = lazy(() => z.strictObject({ flow: z.literal("oauth2_device"), ...oauth2Client, device_authorization_endpoint: httpUrl }));

export const OAuth2PkceSchema = lazy(() => z.strictObject({ flow: z.literal("oauth2_pkce"), ...oauth2Client, authorization_endpoint: httpUrl }));

export const HostFlowSchema = lazy(() => z.discriminatedUnion("flow", [MsalDeviceCodeSchema, GooglePkceSchema, OAuth2DeviceSchema, OAuth2PkceSchema]));

export type HostFlow = z.infer<typeof HostFlowSchema>;
export type HostFlowName = HostFlow["flow"];
export type MsalDeviceCodeConfig = z.infer<typeof MsalDeviceCodeSchema>;
export type GooglePkceConfig = z.infer<typeof GooglePkceSchema>;
export type OAuth2DeviceConfig = z.infer<typeof OAuth2DeviceSchema>;
export type OAuth2PkceConfig = z.infer<typeof OAuth2PkceSchema>;
