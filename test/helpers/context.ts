import { Authctl } from "../../src/context.js";
import type { Roster } from "../../src/roster/load.js";
import type { CredentialStore } from "../../src/store/store.js";
import { testEnv } from "./env.js";

/** The environment of an in-process context: the same as a child process gets (`testEnv`), engine under test included. */
export const baseEnv = testEnv;

/** A context over a test's own store (and roster), with no streams. */
export function ctxOf(store: CredentialStore, roster?: Roster, env: Record<string, string> = baseEnv()): Authctl {
  return new Authctl({ env, store, ...(roster ? { roster } : {}) });
}
