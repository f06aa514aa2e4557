import { randomBytes } from "node:crypto";
import type { Credentials, OAuth2Client } from "google-auth-library";
import { contextFrom, type Authctl } from "../../context.js";
import { interruption, throwIfAborted } from "../../core/abort.js";
import { CaptureError, ModeUnavailableError, UsageError } from "../../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import type { GooglePkceConfig } from "../../roster/hostFlowSchema.js";
import type { Provider } from "../../roster/schema.js";
import type { HostCaptureOptions, HostLoginOptions, HostLoginSession, HostLoginSummary } from "../hostLogin.js";
import { hostAppOptions, storedHostLogin, type HostAppOptions } from "../hostLogin.js";
import { LoopbackRedirect } from "../oauth2/loopback.js";

import { recordCredential } from "../../credentials/index.js";
import type { GooglePayload } from "../../credentials/google.js";

export type { GooglePayload } from "../../credentials/google.js";

function googleFlow(entry: Provider): GooglePkceConfig {
  if (entry.host_flow?.flow !== "google_pkce") {
    throw new ModeUnavailableError(`${entry.name} is not a Google (google_pkce) provider; use one whose host_flow.flow is google_pkce, such as google`);
  }
  return entry.host_flow;
}

async function googleClient(flow: GooglePkceConfig, clientId: string, clientSecret: string | undefined, redirectUri?: string): Promise<OAuth2Client> {
  const { OAuth2Client } = await import("google-auth-library");
  return new OAuth2Client({
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    ...(redirectUri ? { redirectUri } : {}),
    endpoints: { oauth2AuthBaseUrl: flow.auth_endpoint, oauth2TokenUrl: flow.token_endpoint },
  });
}

/**
 * Google installed-app login with PKCE and `state`: prepare opens a loopback listener and builds
 * the auth URL; capture waits for the redirect (or the pasted redirect URL), checks `state`,
 * exchanges the code and stores the tokens.
 */
export async function prepareGooglePkce(provider: string, options: HostLoginOptions = {}): Promise<HostLoginSession> {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const flow = googleFlow(entry);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const clientId = options.clientId ?? flow.client_id;
  if (!clientId) throw new UsageError(`${entry.name}: no client id: pass --client-id (a Google "Desktop app" OAuth client), or set host_flow.client_id in ${context.paths.userRoster}/${entry.name}.yaml`);
  const clientSecret = options.clientSecret ?? (flow.client_secret_env ? context.env[flow.client_secret_env] : undefined);
  const scopes = options.scopes ?? flow.scopes;
  throwIfAborted(options.signal);
  const state = randomBytes(16).toString("hex");
  const loopback = await LoopbackRedirect.open(state);
  try {
    const client = await googleClient(flow, clientId, clientSecret, loopback.redirectUri);
    const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
    const { CodeChallengeMethod } = await import("google-auth-library");
    const authUrl = client.generateAuthUrl({ access_type: "offline", prompt: "consent", scope: scopes, state, code_challenge: codeChallenge!, code_challenge_method: CodeChallengeMethod.S256 });
    let captured: HostLoginSummary | undefined;
    return {
      provider: entry.name,
      credentialSet,
      method: "google_pkce",
      title: `${entry.label} login`,
      prompt: { kind: "auth_url", authUrl, redirectUri: loopback.redirectUri },
      async capture(captureOptions: HostCaptureOptions = {}) {
        if (captured) return captured;
        const redirect = await loopback.wait(captureOptions);
        let tokens: Credentials;
        try {
          ({ tokens } = await client.getToken({ code: redirect.searchParams.get("code")!, codeVerifier, redirect_uri: loopback.redirectUri }));
        } catch (e) {
          if (captureOptions.signal?.aborted) throw interruption(captureOptions.signal);
          throw new CaptureError(`${entry.name}: the code exchange failed: ${httpFailure(e)}`);
        }
        if (captureOptions.signal?.aborted) throw interruption(captureOptions.signal);
        captured = storeGoogleTokens(context, { provider: entry.name, credentialSet, clientId, clientSecret, scopes }, tokens);
        await loopback.close();
        return captured;
      },
      async cleanup() {
        await loopback.close();
      },
      async [Symbol.asyncDispose](this: HostLoginSession) {
        await this.cleanup();
      },
    };
  } catch (e) {
    await loopback.close();
    throw e;
  }
}

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

/** gaxios errors carry the request (with the code and verifier): keep only the status and OAuth error. */
function httpFailure(e: unknown): string {
  const response = (e as { response?: { status?: number; data?: { error?: unknown } } }).response;
  if (response) return `HTTP ${response.status ?? "?"}${typeof response.data?.error === "string" ? ` ${response.data.error}` : ""}`;
  return (e as { code?: string }).code ?? "network error";
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
  const client = await googleClient(flow, row.payload.clientId, row.payload.clientSecret);
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
