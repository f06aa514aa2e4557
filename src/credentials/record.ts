import { assertProviderName, assertSetName } from "../core/names.js";
import type { LifecycleOp } from "../store/audit.js";
import type { CredentialKind, CredentialStore, RowMeta } from "../store/store.js";
import { keptFacts } from "./facts.js";
import { msalAccessTokenExpiry } from "./msal.js";
import { accessTokenExpiry } from "./oauth2.js";
import { credentialType, parsePayload, type CredentialPayload, type PayloadType } from "./table.js";

/** What storing a credential returns, whichever login stored it: never the secret. */
export interface CredentialSummary {
  provider: string;
  credentialSet: string;
  kind: CredentialKind;
  type: PayloadType;
  preview: string;
  expiresAt: Date | null;
}

export interface RecordCredentialOptions {
  credentialSet: string;
  provider: string;
  payload: unknown;
  /** How the audit log names the write; default `stored`. */
  op?: Extract<LifecycleOp, "stored" | "captured" | "refreshed">;
  /** When the secret expires, where the payload cannot tell (a vendor file's field); default the type's. */
  expiresAt?: Date | null;
  /** Where the caller shows more than the type would (several accounts); default the type's. */
  preview?: string;
}

/**
 * The one way a credential is written: the payload checked against its type (an invalid one is
 * refused before anything is stored), sealed, audited, summed up. Takes anything with a store
 * (an `Authctl` context).
 */
export function recordCredential(context: { store(): CredentialStore }, options: RecordCredentialOptions): CredentialSummary {
  const credentialSet = assertSetName(options.credentialSet);
  const provider = assertProviderName(options.provider);
  const payload: CredentialPayload = parsePayload(`${credentialSet}:${provider}`, undefined, options.payload);
  const type = credentialType(payload);
  const kind = type.kind(payload);
  const preview = options.preview ?? type.preview(payload);
  const expiresAt = options.expiresAt !== undefined ? options.expiresAt : type.expiresAt(payload);
  const store = context.store();
  const kept = options.op === "refreshed" ? keptFacts(store.info(credentialSet, provider)?.meta) : {};
  store.put(credentialSet, provider, kind, payload, { preview, expiresAt, meta: { ...factsOf(payload), ...kept } });
  store.audit(options.op ?? "stored", credentialSet, provider, kind);
  return { provider, credentialSet, kind, type: payload.type, preview, expiresAt };
}

/** When a host login's access token lapses: null when it does not say, undefined for a credential that is no host login. */
export function accessExpiry(p: CredentialPayload): Date | null | undefined {
  if (p.type === "oauth2") return accessTokenExpiry(p);
  if (p.type === "msal") return msalAccessTokenExpiry(p);
  if (p.type === "google_oauth") return p.tokens.expiry_date ? new Date(p.tokens.expiry_date) : null;
  return undefined;
}

/** A payload's facts (facts.ts) as its row keeps them: nothing secret, only what tells its state. */
export function factsOf(payload: CredentialPayload): RowMeta {
  const tokenExpiry = payload.type === "oauth2" ? accessTokenExpiry(payload) : payload.type === "msal" ? msalAccessTokenExpiry(payload) : null;
  // MSAL's serialized cache keeps the refresh token beside the access token.
  const refreshToken = payload.type === "msal" || Boolean(credentialType(payload).refreshToken?.(payload));
  return { type: payload.type, ...(tokenExpiry ? { tokenExpiresAt: tokenExpiry.getTime() } : {}), ...(refreshToken ? { refreshToken } : {}) };
}
