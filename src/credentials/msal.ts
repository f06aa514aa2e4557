import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { array, object, oneOf, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

/** A Microsoft login: the account it is for and MSAL's serialized token cache. */
const schema = lazySchema(() =>
  z.looseObject({
    type: z.literal("msal"),
    clientId: z.string(),
    tenantId: z.string(),
    scopes: z.array(z.string()),
    homeAccountId: z.string(),
    username: z.string(),
    /** `TokenCache.serialize()`: access, refresh and id tokens, sealed with the rest of the row (the name has "token": `creds show` redacts it). */
    tokenCache: z.string(),
  }),
);
export type MsalPayload = z.infer<ReturnType<typeof schema>>;

interface CachedAccessToken {
  secret: string;
  expiresOn: number;
}

/** The newest access token in MSAL's cache (its `AccessToken` entries, `expires_on` in seconds). */
function newestAccessToken(p: MsalPayload): CachedAccessToken | undefined {
  let cache: { AccessToken?: Record<string, { secret?: unknown; home_account_id?: unknown; expires_on?: unknown }> };
  try {
    cache = JSON.parse(p.tokenCache) as typeof cache;
  } catch {
    return undefined;
  }
  let newest: CachedAccessToken | undefined;
  for (const entry of Object.values(cache.AccessToken ?? {})) {
    if (typeof entry.secret !== "string" || !entry.secret || (entry.home_account_id !== undefined && entry.home_account_id !== p.homeAccountId)) continue;
    const expiresOn = Number(entry.expires_on) * 1000;
    if (!newest || expiresOn > newest.expiresOn) newest = { secret: entry.secret, expiresOn: Number.isFinite(expiresOn) ? expiresOn : 0 };
  }
  return newest;
}

export const msal: CredentialType<MsalPayload> = {
  type: "msal",
  mode: "oauth",
  schema,
  shape: object({
    type: oneOf(["msal"]),
    clientId: string(),
    tenantId: string(),
    scopes: array(string()),
    homeAccountId: string(),
    username: string(),
    tokenCache: string(),
  }),
  kind: () => "device_flow",
  secret: (p) => newestAccessToken(p)?.secret,
  // MSAL refreshes from the cache's refresh token: the login does not expire as a whole.
  expiresAt: () => null,
  preview: (p) => {
    const token = newestAccessToken(p)?.secret;
    return token ? maskSecret(token) : "****";
  },
};

/** When the cached access token lapses (MSAL's `acquireTokenSilent` refreshes it), null when the cache holds none. */
export function msalAccessTokenExpiry(p: MsalPayload): Date | null {
  const token = newestAccessToken(p);
  return token ? new Date(token.expiresOn) : null;
}
