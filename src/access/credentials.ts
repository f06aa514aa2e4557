import { contextFrom, type WithContext } from "../context.js";
import { MissingCredentialsError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { StoredCredential } from "../store/store.js";

export interface GetCredentialsOptions extends WithContext {
  credentialSet?: string;
}

/** Decrypted credential for (set, provider); `MissingCredentialsError` says how to add it. */
export function getCredentials<T = unknown>(provider: string, options: GetCredentialsOptions = {}): StoredCredential<T> {
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  const found = context.store().get<T>(credentialSet, entry.name);
  if (!found) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
  return found;
}
