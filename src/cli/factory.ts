import type { Roster } from "../roster/load.js";
import { authctlHome, storePaths } from "../core/paths.js";
import { CredentialStore } from "../store/store.js";
import { type IOStreams, stdinIsTTY } from "./io.js";
import { promptHidden } from "../ui/prompt.js";

/** Loaded on demand: the roster pulls in zod and yaml, which `creds list` never needs. */
export async function cliRoster(io: IOStreams): Promise<Roster> {
  const { loadRoster } = await import("../roster/load.js");
  return loadRoster({ userDir: storePaths(authctlHome(io.env)).userRoster });
}

export function cliStore(io: IOStreams): CredentialStore {
  return CredentialStore.open({ env: io.env });
}

/** A passphrase store with no passphrase in the environment asks on the terminal, once. */
export async function unlockForSecrets(store: CredentialStore, io: IOStreams): Promise<void> {
  if (store.needsPassphrasePrompt() && stdinIsTTY(io)) {
    store.unlockWithPassphrase(await promptHidden(io, "authctl store passphrase: "));
  }
}
