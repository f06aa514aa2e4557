import { contextFrom } from "../../context.js";
import { holdSignal, interruption, throwIfAborted } from "../../core/abort.js";
import { CaptureError } from "../../core/errors.js";
import { maskSecret } from "../../core/mask.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import type { HostCaptureOptions, HostLoginOptions, HostLoginSession, HostLoginSummary, HostPrompt } from "../hostLogin.js";
import { clientCredentials, oauth2Configuration, oauth2Flow, oauthFailure, payloadFrom, rowExpiry } from "./client.js";
import { LoopbackRedirect } from "./loopback.js";
import type { TokenEndpointResponse } from "openid-client";

/**
 * Generic OAuth 2.0 for providers declared only in YAML: device code (RFC 8628) or authorization
 * code + PKCE with a loopback redirect, both through openid-client.
 */
export async function prepareOAuth2(provider: string, options: HostLoginOptions = {}): Promise<HostLoginSession> {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const flow = oauth2Flow(entry);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const { clientId, clientSecret } = clientCredentials(context, entry, flow, options);
  const scope = (options.scopes ?? flow.scopes).join(" ");
  throwIfAborted(options.signal);
  const oidc = await import("openid-client");
  const config = await oauth2Configuration(flow, clientId, clientSecret);
  // Aborted by a stop during capture, and by cleanup: ends a poll in flight at once.
  const polling = new AbortController();

  let prompt: HostPrompt;
  let obtain: (o: HostCaptureOptions) => Promise<TokenEndpointResponse>;
  let close = async () => {};
  if (flow.flow === "oauth2_device") {
    let device;
    try {
      device = await oidc.initiateDeviceAuthorization(config, scope ? { scope } : {});
    } catch (e) {
      throw new CaptureError(`${entry.name}: the device authorization request failed: ${oauthFailure(e)}`);
    }
    const verificationUri = device.verification_uri;
    prompt = { kind: "device_code", userCode: device.user_code, verificationUri, message: `Open ${verificationUri} and enter the code ${device.user_code}`, expiresAt: new Date(context.clock.now() + device.expires_in * 1000) };
    obtain = () => oidc.pollDeviceAuthorizationGrant(config, device, undefined, { signal: polling.signal });
  } else {
    const state = oidc.randomState();
    const verifier = oidc.randomPKCECodeVerifier();
    const loopback = await LoopbackRedirect.open(state);
    close = () => loopback.close();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: loopback.redirectUri,
      ...(scope ? { scope } : {}),
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });
    prompt = { kind: "auth_url", authUrl: authUrl.href, redirectUri: loopback.redirectUri };
    obtain = async (o) => {
      const redirect = await loopback.wait(o);
      return oidc.authorizationCodeGrant(config, redirect, { pkceCodeVerifier: verifier, expectedState: state }, { redirect_uri: loopback.redirectUri });
    };
  }

  let captured: HostLoginSummary | undefined;
  return {
    provider: entry.name,
    credentialSet,
    method: flow.flow,
    title: `${entry.label} login`,
    prompt,
    async capture(captureOptions: HostCaptureOptions = {}) {
      if (captured) return captured;
      const { signal } = captureOptions;
      const release = holdSignal(signal, () => polling.abort());
      let tokens: TokenEndpointResponse;
      try {
        tokens = await obtain(captureOptions);
      } catch (e) {
        if (signal?.aborted) throw interruption(signal);
        if (e instanceof CaptureError) throw e;
        throw new CaptureError(`${entry.name}: the login failed: ${oauthFailure(e)}`);
      } finally {
        release();
      }
      if (signal?.aborted) throw interruption(signal);
      const payload = payloadFrom(tokens, clientId, clientSecret, context.clock.now());
      const preview = maskSecret(payload.access_token);
      const expiresAt = rowExpiry(payload);
      const kind = flow.flow === "oauth2_device" ? "device_flow" : "oauth";
      context.store().put(credentialSet, entry.name, kind, payload, { preview, expiresAt });
      await close();
      captured = { provider: entry.name, credentialSet, kind, preview, expiresAt };
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
