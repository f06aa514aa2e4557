import { MissingCredentialsError } from "../core/errors.js";
import { resolveDeps, type Deps } from "../context.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import type { StoredCredential } from "../store/store.js";

export { fixCommandFor };

export interface GetCredentialsOptions extends Deps {
  credentialSet?: string;
}

/** Decrypted credential for (set, provider); `MissingCredentialsError` says how to add it. */
export function getCredentials<T = unknown>(provider: string, options: GetCredentialsOptions = {}): StoredCredential<T> {
  const { store, roster } = resolveDeps(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = roster.get(provider);
  const found = store.get<T>(credentialSet, entry.name);
  if (!found) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
  return found;
}
