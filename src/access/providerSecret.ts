import type { Authctl } from "../context.js";
import { AuthctlError } from "../core/errors.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import { accessExpiry, typedCredential } from "../credentials/index.js";
import { resolveCredentialSet } from "./credentialSet.js";
import { assertDeliverable, secretOf } from "./delivery.js";
import type { CredentialReader } from "./storedCredential.js";

export interface SecretForOptions {
  credentialSet?: string;
}

/** One credential's secret as a helper hands it to another program (`authctl token`, git, docker). */
export interface ProviderSecret {
  credentialSet: string;
  provider: string;
  kind: string;
  secret: string;
  /** When the secret stops working, if the credential says; null when unknown or never. */
  expiresAt: Date | null;
  /** A login holding several accounts (gh's hosts: github.com and an Enterprise host): each one's name and token. */
  accounts: { name: string; secret: string }[];
}

/** The set a helper reads: the one named, else `AUTHCTL_SET`, else the nearest project file's, else the default set. */
export function chosenSet(context: Authctl, explicit?: string): string {
  return resolveCredentialSet(context, explicit).credentialSet;
}

/**
 * `secretFor` with the reader given (`credentialReader`): a caller that is async anyway loads the
 * service's client only when the context was handed a service.
 */
export function readSecret(context: Authctl, provider: string, options: SecretForOptions, read: CredentialReader): ProviderSecret {
  const credentialSet = chosenSet(context, options.credentialSet);
  const entry = context.roster().get(provider);
  const credential = read(entry.name, { context, credentialSet });
  assertDeliverable(entry, credential);
  const secret = secretOf(credential);
  if (!secret) {
    throw new AuthctlError(`${credentialSet}:${entry.name} (${credential.kind}) holds no secret to hand out now; log in again: ${fixCommandFor(entry, credentialSet)}`);
  }
  const payload = typedCredential(credential).payload;
  const accounts = payload.type === "oauth" ? (payload.accounts ?? []).map((a) => ({ name: a.name, secret: a.accessToken })) : [];
  // A host login's row never expires (it refreshes); what the secret is good for is its access token's life.
  const expiresAt = accessExpiry(payload) ?? credential.expiresAt ?? null;
  return { credentialSet, provider: entry.name, kind: credential.kind, secret, expiresAt, accounts };
}
