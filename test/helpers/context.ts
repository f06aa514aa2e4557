import { Authctl } from "../../src/context.js";
import type { Roster } from "../../src/roster/load.js";
import type { CredentialStore } from "../../src/store/store.js";

/** This process's environment without authctl's own settings (no passphrase, no engine override). */
export function baseEnv(): Record<string, string> {
  const inherited = Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("AUTHCTL_"));
  // New stores use a key file: tests never write to the developer's OS keyring (see test/keyring.test.ts).
  return { ...Object.fromEntries(inherited), AUTHCTL_STORE_KEY: "file" };
}

/** A context over a test's own store (and roster), with no streams. */
export function ctxOf(store: CredentialStore, roster?: Roster, env: Record<string, string> = baseEnv()): Authctl {
  return new Authctl({ env, store, ...(roster ? { roster } : {}) });
}
