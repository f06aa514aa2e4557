import { MissingCredentialsError } from "./errors.js";
import { resolveDeps, type Deps } from "./context.js";
import type { Provider } from "./roster/schema.js";
import { assertSetName, DEFAULT_SET } from "./store/names.js";
import type { StoredCredential } from "./store/store.js";

export interface GetCredentialsOptions extends Deps {
  credentialSet?: string;
}

/** The exact command that stores a credential for this provider and set. */
export function fixCommandFor(provider: Provider, credentialSet: string): string {
  const set = credentialSet === DEFAULT_SET ? "" : ` --set ${credentialSet}`;
  if (provider.modes.includes("oauth")) return `authctl auth ${provider.name}${set}`;
  return `authctl key ${provider.name}${set}`;
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
