import type { RowMeta } from "../store/store.js";

/**
 * A stored credential's facts as listings read them (the row's `meta`, nothing secret): enough to
 * tell its state without opening the payload. Written by recordCredential (record.ts: factsOf);
 * this module imports no payload type, so a listing loads none of them (nor zod).
 */
export interface CredentialFacts {
  /** The payload's `type` (api_key, oauth, oauth2, msal, google_oauth, command). */
  type: string;
  /** When the access token itself lapses, where the type knows (OAuth 2.0, MSAL); else null. */
  tokenExpiresAt: Date | null;
  /** The payload holds a refresh token (MSAL's cache always does). */
  refreshToken: boolean;
  /** The account the last live check (`status --check`, `creds show --check`) saw, never the secret. */
  identity?: string;
  /** When that check ran. */
  checkedAt?: Date;
}

/** The facts of a row, or undefined when it has none (written before they were kept): its payload must be read instead. */
export function readFacts(meta: RowMeta | null | undefined): CredentialFacts | undefined {
  if (!meta || typeof meta.type !== "string") return undefined;
  const { type, tokenExpiresAt, refreshToken, identity, checkedAt } = meta;
  return {
    type,
    tokenExpiresAt: typeof tokenExpiresAt === "number" ? new Date(tokenExpiresAt) : null,
    refreshToken: refreshToken === true,
    ...(typeof identity === "string" && identity ? { identity } : {}),
    ...(typeof checkedAt === "number" ? { checkedAt: new Date(checkedAt) } : {}),
  };
}

/** The account a live check saw, as a row's facts keep it. */
export function identityFacts(identity: string, at: number): RowMeta {
  return { identity, checkedAt: at };
}

/** What of the old facts outlives a new payload for the same login: the account, on a refresh (same login, new tokens). */
export function keptFacts(old: RowMeta | null | undefined): RowMeta {
  if (typeof old?.identity !== "string") return {};
  return { identity: old.identity, ...(typeof old.checkedAt === "number" ? { checkedAt: old.checkedAt } : {}) };
}
