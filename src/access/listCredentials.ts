import { readFacts } from "../credentials/facts.js";
import type { CredentialKind } from "../store/kinds.js";
import type { CredentialInfo, CredentialStore } from "../store/store.js";

/**
 * One stored credential as `authctl creds list --json` prints it: names, kind, masked preview and
 * dates, never the secret. JSON-safe (ISO 8601 UTC timestamps), so it can be passed on as it is.
 */
export interface CredentialListing {
  credentialSet: string;
  provider: string;
  kind: CredentialKind;
  preview: string;
  expiresAt: string | null;
  /** Whether `expiresAt` has passed at the time of listing. */
  expired: boolean;
  createdAt: string;
  updatedAt: string;
  /** The account the last live check of it saw (`status --check`, `creds show --check`); absent when none did. */
  identity?: string;
}

export function listingOf(info: CredentialInfo, now: number): CredentialListing {
  return {
    credentialSet: info.credentialSet,
    provider: info.provider,
    kind: info.kind,
    preview: info.preview,
    expiresAt: info.expiresAt?.toISOString() ?? null,
    expired: info.expiresAt ? info.expiresAt.getTime() <= now : false,
    createdAt: info.createdAt.toISOString(),
    updatedAt: info.updatedAt.toISOString(),
    ...identityOf(info),
  };
}

function identityOf(info: CredentialInfo): { identity?: string } {
  const identity = readFacts(info.meta)?.identity;
  return identity ? { identity } : {};
}

/**
 * The store's rows (one set's, or all), metadata only: nothing is decrypted, so it needs no key.
 * Light on purpose (no roster, no context): `authctl creds list` calls it directly.
 */
export function credentialListing(store: CredentialStore, now: number, credentialSet?: string): CredentialListing[] {
  return store.list(credentialSet === undefined ? {} : { credentialSet }).map((info) => listingOf(info, now));
}
