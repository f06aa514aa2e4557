import type { AuthenticationResult, DeviceCodeRequest } from "@azure/msal-node";
import { contextFrom, type Authctl } from "../../context.js";
import { holdSignal, interruption, throwIfAborted } from "../../core/abort.js";
import { CaptureError, UsageError } from "../../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import type { HostCaptureOptions, HostLoginOptions, HostLoginSession, HostLoginSummary, HostPrompt } from "../hostLogin.js";
import { msalConfiguration, msalFlow, type MsalPayload } from "./app.js";
import { recordCredential } from "../../credentials/index.js";

/**
 * Microsoft device code: prepare asks for the code (MSAL calls back with it, then polls through
 * `authorization_pending`); capture waits for the poll and stores the account and MSAL's cache.
 */
export async function prepareMsalDeviceCode(provider: string, options: HostLoginOptions = {}): Promise<HostLoginSession> {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const flow = msalFlow(entry);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const clientId = options.clientId ?? flow.client_id;
  if (!clientId) throw new UsageError(`${entry.name}: no client id: pass --client-id, or set host_flow.client_id in ${context.paths.userRoster}/${entry.name}.yaml`);
  const tenantId = options.tenantId ?? flow.tenant_id;
  const scopes = options.scopes ?? flow.scopes;
  throwIfAborted(options.signal);
  const { PublicClientApplication } = await import("@azure/msal-node");
  // No cache plugin while logging in: the cache is written to the store once, by capture.
  const app = new PublicClientApplication(msalConfiguration(flow, clientId, tenantId));
  let shown!: (prompt: HostPrompt) => void;
  const promptReady = new Promise<HostPrompt>((resolve) => (shown = resolve));
  const request: DeviceCodeRequest = {
    scopes,
    deviceCodeCallback: (r) =>
      shown({ kind: "device_code", userCode: r.userCode, verificationUri: r.verificationUri, message: r.message, expiresAt: new Date(context.clock.now() + r.expiresIn * 1000).toISOString() }),
  };
  const polled = app.acquireTokenByDeviceCode(request);
  polled.catch(() => {}); // observed by capture (or dropped by cleanup)
  // MSAL checks `cancel` between polls: a stop or a cleanup ends the poll within one interval.
  const cancel = () => (request.cancel = true);
  const release = holdSignal(options.signal, cancel);
  let prompt: HostPrompt;
  try {
    prompt = await Promise.race([promptReady, polled.then(() => Promise.reject(new CaptureError("the device code request ended before a code was issued")))]);
  } catch (e) {
    cancel();
    throw options.signal?.aborted ? interruption(options.signal) : loginFailure(entry.name, e);
  } finally {
    release();
  }

  let captured: HostLoginSummary | undefined;
  return {
    provider: entry.name,
    credentialSet,
    method: "msal_device_code",
    title: `${entry.label} login`,
    prompt,
    async capture(captureOptions: HostCaptureOptions = {}) {
      if (captured) return captured;
      const { signal } = captureOptions;
      const releaseCapture = holdSignal(signal, cancel);
      let result: AuthenticationResult | null;
      try {
        result = await polled;
      } catch (e) {
        if (signal?.aborted) throw interruption(signal);
        throw loginFailure(entry.name, e);
      } finally {
        releaseCapture();
      }
      if (signal?.aborted) throw interruption(signal);
      if (!result?.account) throw new CaptureError(`${entry.name}: the login finished without an account`);
      captured = storeMsalLogin(context, { provider: entry.name, credentialSet, clientId, tenantId, scopes }, result, app.getTokenCache().serialize());
      return captured;
    },
    async cleanup() {
      if (!captured) cancel();
    },
    async [Symbol.asyncDispose](this: HostLoginSession) {
      await this.cleanup();
    },
  };
}

interface MsalLoginTarget {
  provider: string;
  credentialSet: string;
  clientId: string;
  tenantId: string;
  scopes: string[];
}

function storeMsalLogin(context: Authctl, target: MsalLoginTarget, result: AuthenticationResult, cache: string): HostLoginSummary {
  if (!result.account) throw new CaptureError(`${target.provider}: the login finished without an account`);
  const { provider, credentialSet, clientId, tenantId, scopes } = target;
  const payload: MsalPayload = { type: "msal", clientId, tenantId, scopes, homeAccountId: result.account.homeAccountId, username: result.account.username, tokenCache: cache };
  return recordCredential(context, { credentialSet, provider, payload, op: "captured" });
}

/**
 * The end of a device-code login polled outside MSAL (`authctl session capture` in a new process):
 * MSAL redeems the refresh token so its cache holds the account and tokens as if it had polled.
 */
export async function storeMsalFromRefreshToken(context: Authctl, target: MsalLoginTarget, refreshToken: string): Promise<HostLoginSummary> {
  const entry = context.roster().get(target.provider);
  const { PublicClientApplication } = await import("@azure/msal-node");
  const app = new PublicClientApplication(msalConfiguration(msalFlow(entry), target.clientId, target.tenantId));
  let result: AuthenticationResult | null;
  try {
    // forceCache: the account is new to this cache (MSAL otherwise keeps only refreshes of accounts it holds).
    result = await app.acquireTokenByRefreshToken({ refreshToken, scopes: target.scopes, forceCache: true });
  } catch (e) {
    throw loginFailure(target.provider, e);
  }
  if (!result) throw new CaptureError(`${target.provider}: the login finished without a token`);
  return storeMsalLogin(context, target, result, app.getTokenCache().serialize());
}

/** MSAL errors carry server text; keep the code, never a token. */
function loginFailure(provider: string, e: unknown): Error {
  const code = (e as { errorCode?: string }).errorCode;
  if (code === "device_code_polling_cancelled") return new CaptureError(`${provider}: the login was cancelled`);
  return new CaptureError(`${provider}: the Microsoft login failed${code ? ` (${code})` : ""}: ${String((e as Error).message ?? e).split("\n")[0]!.slice(0, 200)}`, { cause: e });
}
