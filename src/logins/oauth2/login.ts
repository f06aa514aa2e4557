import type { TokenEndpointResponse } from "openid-client";
import { contextFrom, type Authctl } from "../../context.js";
import { holdSignal, interruption, throwIfAborted } from "../../core/abort.js";
import { CaptureError } from "../../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import type { HostCaptureOptions, HostLoginOptions, HostLoginSession, HostLoginSummary, HostPrompt } from "../hostLogin.js";
import { clientCredentials, genericFlowOf, oauth2Configuration, oauthFailure, payloadFrom, UNCHECKED_ID_TOKEN } from "./client.js";
import { recordCredential } from "../../credentials/index.js";
import { LoopbackRedirect } from "./loopback.js";
import type * as z from "zod";
import type { OAuth2LoginStateSchema } from "../hostSessions.js";

/**
 * A prepared OAuth 2.0 login as plain data, so `authctl session prepare` can keep it on disk and
 * `session capture` finish it in another process. Short-lived values only (device code, PKCE
 * verifier); a client secret is never kept — capture takes it again.
 */
export type OAuth2LoginState = z.infer<typeof OAuth2LoginStateSchema>;

/**
 * Every host login, through openid-client, for `auth` and `session` alike: generic OAuth 2.0 for
 * providers declared only in YAML — device code (RFC 8628) or authorization code + PKCE with a
 * loopback redirect — Google's PKCE login and Microsoft's device code. What is stored is each
 * provider's own shape: MSAL's cache for Microsoft (msal/capture.ts), google-auth-library's
 * tokens for Google, an OAuth 2.0 token set for the others.
 */
export async function startOAuth2Login(provider: string, options: HostLoginOptions = {}): Promise<{ state: OAuth2LoginState; loopback?: LoopbackRedirect }> {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const tenantId = entry.host_flow?.flow === "msal_device_code" ? (options.tenantId ?? entry.host_flow.tenant_id) : undefined;
  const flow = genericFlowOf(entry, tenantId);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const { clientId, clientSecret } = clientCredentials(context, entry, flow, options);
  const scopes = options.scopes ?? flow.scopes;
  const scope = scopes.join(" ");
  throwIfAborted(options.signal);
  // Before the identity provider is asked: a login whose credential could not be stored never starts.
  context.store().assertCanStore();
  const oidc = await import("openid-client");
  const config = await oauth2Configuration(flow, clientId, clientSecret, { context, entry });
  const base = { method: entry.host_flow!.flow as OAuth2LoginState["method"], provider: entry.name, credentialSet, title: `${entry.label} login`, clientId, scopes, ...(tenantId ? { tenantId } : {}) };
  if (flow.flow === "oauth2_device") {
    let device;
    try {
      device = await oidc.initiateDeviceAuthorization(config, scope ? { scope } : {});
    } catch (e) {
      throw new CaptureError(`${entry.name}: the device authorization request failed: ${oauthFailure(e)}`);
    }
    const { device_code, user_code, verification_uri, expires_in, interval } = device;
    const prompt: HostPrompt = {
      kind: "device_code",
      userCode: user_code,
      verificationUri: verification_uri,
      // Microsoft words its own instruction (in the user's language); others get ours.
      message: typeof device.message === "string" ? device.message : `Open ${verification_uri} and enter the code ${user_code}`,
      expiresAt: new Date(context.clock.now() + expires_in * 1000).toISOString(),
    };
    return { state: { ...base, prompt, device: { device_code, user_code, verification_uri, expires_in, ...(interval ? { interval } : {}) } } };
  }
  const pkceState = oidc.randomState();
  const verifier = oidc.randomPKCECodeVerifier();
  const loopback = await LoopbackRedirect.open(pkceState);
  const authUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: loopback.redirectUri,
    ...(scope ? { scope } : {}),
    state: pkceState,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    // Google gives a refresh token only when asked for offline access (and consent).
    ...(base.method === "google_pkce" ? { access_type: "offline", prompt: "consent" } : {}),
  });
  const prompt: HostPrompt = { kind: "auth_url", authUrl: authUrl.href, redirectUri: loopback.redirectUri };
  return { state: { ...base, prompt, pkce: { verifier, state: pkceState, redirectUri: loopback.redirectUri } }, loopback };
}

export async function prepareOAuth2(provider: string, options: HostLoginOptions = {}): Promise<HostLoginSession> {
  const context = contextFrom(options);
  const { state, loopback } = await startOAuth2Login(provider, { ...options, context });
  return oauth2Session(state, { ...options, context }, loopback);
}

/** A session for a saved state (`authctl session capture`): the loopback listens again on its saved port. */
export function restoreOAuth2Login(state: OAuth2LoginState, options: HostLoginOptions = {}): HostLoginSession {
  return oauth2Session(state, options);
}

function oauth2Session(state: OAuth2LoginState, options: HostLoginOptions, openLoopback?: LoopbackRedirect): HostLoginSession {
  const context = contextFrom(options);
  const entry = context.roster().get(state.provider);
  const flow = genericFlowOf(entry, state.tenantId);
  // Aborted by a stop during capture, and by cleanup: ends a poll in flight at once.
  const polling = new AbortController();
  let loopback = openLoopback;
  let captured: HostLoginSummary | undefined;

  async function obtain(o: HostCaptureOptions): Promise<{ tokens: TokenEndpointResponse; clientSecret?: string }> {
    const { clientSecret } = clientCredentials(context, entry, flow, { ...options, clientId: state.clientId });
    const oidc = await import("openid-client");
    const config = await oauth2Configuration(flow, state.clientId, clientSecret, { context, entry });
    if (state.device) {
      // client_info: Microsoft then returns the account's ids, from which MSAL keys its cache (as when it polled).
      const parameters = state.method === "msal_device_code" ? { client_info: "1" } : undefined;
      return { tokens: await oidc.pollDeviceAuthorizationGrant(config, state.device, parameters, { signal: polling.signal }), clientSecret };
    }
    const pkce = state.pkce!;
    loopback ??= await LoopbackRedirect.open(pkce.state, Number(new URL(pkce.redirectUri).port));
    const redirect = await loopback.wait(o);
    const tokens = await oidc.authorizationCodeGrant(config, redirect, { pkceCodeVerifier: pkce.verifier, expectedState: pkce.state }, { redirect_uri: pkce.redirectUri });
    return { tokens, clientSecret };
  }

  async function store(tokens: TokenEndpointResponse, clientSecret: string | undefined): Promise<HostLoginSummary> {
    if (state.method === "msal_device_code") {
      const { storeMsalTokens } = await import("../msal/capture.js");
      return storeMsalTokens(context, { ...state, tenantId: state.tenantId! }, tokens);
    }
    if (state.method === "google_pkce") {
      const { storeGoogleTokens } = await import("../google/pkce.js");
      const { access_token, refresh_token, expires_in, token_type, scope } = tokens;
      const idToken = tokens[UNCHECKED_ID_TOKEN];
      const googleTokens = { access_token, refresh_token, token_type, scope, ...(typeof idToken === "string" ? { id_token: idToken } : {}), expiry_date: expires_in === undefined ? null : context.clock.now() + expires_in * 1000 };
      return storeGoogleTokens(context, { ...state, clientSecret }, googleTokens);
    }
    return storeOAuth2Tokens(context, state, tokens, clientSecret);
  }

  const close = async () => {
    await loopback?.close();
  };
  return {
    provider: state.provider,
    credentialSet: state.credentialSet,
    method: state.method,
    title: state.title,
    prompt: state.prompt,
    async capture(captureOptions: HostCaptureOptions = {}) {
      if (captured) return captured;
      const { signal } = captureOptions;
      const release = holdSignal(signal, () => polling.abort());
      let obtained: Awaited<ReturnType<typeof obtain>>;
      try {
        obtained = await obtain(captureOptions);
      } catch (e) {
        if (signal?.aborted) throw interruption(signal);
        if (e instanceof CaptureError) throw e;
        throw new CaptureError(`${state.provider}: the login failed: ${oauthFailure(e)}`);
      } finally {
        release();
      }
      if (signal?.aborted) throw interruption(signal);
      captured = await store(obtained.tokens, obtained.clientSecret);
      await close();
      return captured;
    },
    async cleanup() {
      polling.abort();
      await close();
    },
    async [Symbol.asyncDispose](this: HostLoginSession) {
      await this.cleanup();
    },
  };
}

function storeOAuth2Tokens(context: Authctl, state: OAuth2LoginState, tokens: TokenEndpointResponse, clientSecret: string | undefined): HostLoginSummary {
  const payload = { ...payloadFrom(tokens, state.clientId, clientSecret, context.clock.now()), grant: state.pkce ? "authorization_code" : "device_code" };
  return recordCredential(context, { credentialSet: state.credentialSet, provider: state.provider, payload, op: "captured" });
}
