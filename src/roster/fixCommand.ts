import type { Provider } from "./schema.js";

/** The exact command that stores a credential for this provider and set. */
export function fixCommandFor(provider: Provider, credentialSet: string): string {
  const set = credentialSet === "default" ? "" : ` --set ${credentialSet}`;
  if (provider.modes.includes("oauth")) return `authctl auth ${provider.name}${set}`;
  return `authctl key ${provider.name}${set}`;
}
