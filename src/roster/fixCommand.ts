import type { Roster } from "./load.js";
import type { Provider } from "./schema.js";

/**
 * The exact command that stores a credential for this provider and set, for the roster's first
 * (recommended) mode: Gemini lists api_key first, so its fix is `authctl key gemini`, never the
 * legacy personal Google login.
 */
export function fixCommandFor(provider: Provider, credentialSet: string): string {
  const set = credentialSet === "default" ? "" : ` --set ${credentialSet}`;
  if (provider.modes[0] === "oauth") return `authctl auth ${provider.name}${set}`;
  return `authctl key ${provider.name}${set}`;
}

/** The same for a provider the roster may not know (a row stored under a name since removed from it). */
export function fixCommandIn(roster: Roster, provider: string, credentialSet: string): string {
  if (roster.has(provider)) return fixCommandFor(roster.get(provider), credentialSet);
  return `authctl key ${provider}${credentialSet === "default" ? "" : ` --set ${credentialSet}`}`;
}
