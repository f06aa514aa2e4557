import type { Provider } from "../../roster/schema.js";

/** The length of the longest of `prefixes` that `key` starts with; -1 when none does. */
export const longestMatch = (prefixes: readonly string[] | undefined, key: string) =>
  Math.max(-1, ...(prefixes ?? []).filter((p) => key.startsWith(p)).map((p) => p.length));

/**
 * The providers whose key prefix `value` starts with: a value anywhere a key must not be (a project
 * file) is refused by this. Apart from the login so a project file's reader loads no login.
 */
export function keyPrefixOwners(roster: readonly Provider[], value: string): Provider[] {
  return roster.filter((p) => longestMatch(p.api_key?.prefixes, value) >= 0);
}
