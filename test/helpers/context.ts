import { Authctl } from "../../src/context.js";
import type { Roster } from "../../src/roster/load.js";
import type { CredentialStore } from "../../src/store/store.js";

/** A context over a test's own store (and roster): no process environment, no streams. */
export function ctxOf(store: CredentialStore, roster?: Roster, env: Record<string, string> = {}): Authctl {
  return new Authctl({ env, store, ...(roster ? { roster } : {}) });
}
