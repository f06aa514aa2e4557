import type { Configuration, ICachePlugin, PublicClientApplication, TokenCacheContext } from "@azure/msal-node";
import type { Authctl } from "../../context.js";
import { contextFrom } from "../../context.js";
import { ModeUnavailableError } from "../../core/errors.js";
import { DEFAULT_SET } from "../../core/names.js";
import { hostAppOptions, storedHostLogin, type HostAppOptions } from "../hostLogin.js";
import type { MsalDeviceCodeConfig } from "../../roster/hostFlowSchema.js";
import type { Provider } from "../../roster/schema.js";

import { recordCredential } from "../../credentials/index.js";
import type { MsalPayload } from "../../credentials/msal.js";

export type { MsalPayload } from "../../credentials/msal.js";

export function msalFlow(entry: Provider): MsalDeviceCodeConfig {
  if (entry.host_flow?.flow !== "msal_device_code") {
    throw new ModeUnavailableError(`${entry.name} is not a Microsoft (MSAL device code) provider; use one whose host_flow.flow is msal_device_code, such as msgraph`);
  }
  return entry.host_flow;
}

/**
 * MSAL's configuration for a roster entry. A roster with `authority_metadata` (sovereign or
 * offline clouds, tests) names its host as known so MSAL neither discovers nor fetches metadata.
 */
export function msalConfiguration(flow: MsalDeviceCodeConfig, clientId: string, tenantId: string, cachePlugin?: ICachePlugin): Configuration {
  const metadata = flow.authority_metadata;
  return {
    auth: {
      clientId,
      authority: `https://${flow.authority_host}/${tenantId}`,
      ...(metadata ? { knownAuthorities: [flow.authority_host.replace(/:\d+$/, "")], authorityMetadata: JSON.stringify(metadata) } : {}),
    },
    ...(cachePlugin ? { cache: { cachePlugin } } : {}),
    // MSAL's logger would print account names; authctl prints nothing from a library.
    system: { loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false } },
  };
}

/**
 * MSAL's token cache lives in the store row (encrypted), never in a loose file: read before each
 * cache access, written back (merged into the row) only when MSAL changed it — a refresh.
 */
export function storeCachePlugin(context: Authctl, credentialSet: string, provider: string): ICachePlugin {
  return {
    async beforeCacheAccess(cacheContext: TokenCacheContext) {
      const row = context.store().get<MsalPayload>(credentialSet, provider);
      if (row) cacheContext.tokenCache.deserialize(row.payload.tokenCache);
    },
    async afterCacheAccess(cacheContext: TokenCacheContext) {
      if (!cacheContext.cacheHasChanged) return;
      const store = context.store();
      const row = store.get<MsalPayload>(credentialSet, provider);
      if (!row) return;
      const payload: MsalPayload = { ...row.payload, tokenCache: cacheContext.tokenCache.serialize() };
      recordCredential(context, { credentialSet, provider, payload, op: "refreshed" });
    },
  };
}

export interface BuildMsalAppOptions extends HostAppOptions {
  /** A roster provider whose host_flow is msal_device_code; default `msgraph`. */
  provider?: string;
}

/**
 * A `PublicClientApplication` on the stored login of `options.provider` (default `msgraph`) in
 * `options.credentialSet`: use `getAllAccounts()` + `acquireTokenSilent`; refreshed tokens are
 * written back to the store.
 */
export function buildMsalApp(options?: BuildMsalAppOptions): Promise<PublicClientApplication>;
/** @deprecated the set goes in the options: `buildMsalApp({ credentialSet, provider })`. */
export function buildMsalApp(account: string, options?: BuildMsalAppOptions): Promise<PublicClientApplication>;
export async function buildMsalApp(first?: string | BuildMsalAppOptions, second?: BuildMsalAppOptions): Promise<PublicClientApplication> {
  const options = hostAppOptions("buildMsalApp", first, second);
  const context = contextFrom(options);
  const entry = context.roster().get(options.provider ?? "msgraph");
  const flow = msalFlow(entry);
  const row = storedHostLogin<MsalPayload>(context, entry, options.credentialSet ?? DEFAULT_SET, "msal");
  const credentialSet = row.credentialSet;
  const { PublicClientApplication } = await import("@azure/msal-node");
  const { guardedMsalNetwork } = await import("./network.js");
  const plugin = storeCachePlugin(context, credentialSet, entry.name);
  const configuration = msalConfiguration(flow, row.payload.clientId, row.payload.tenantId, plugin);
  return new PublicClientApplication({ ...configuration, system: { ...configuration.system, networkClient: await guardedMsalNetwork(context, entry) } });
}
