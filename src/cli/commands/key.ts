import { Command, Option } from "commander";
import type { StoredSummary } from "../../logins/api-key/apiKey.js";
import { UsageError } from "../../core/errors.js";
import type { Roster } from "../../roster/load.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { CredentialStore } from "../../store/store.js";
import { cliRoster, cliStore, unlockForSecrets } from "../factory.js";
import { type IOStreams, out, printJson, stdinIsTTY } from "../io.js";
import { promptHidden, readAllStdin } from "../../ui/prompt.js";

export interface KeyOptions {
  set: string;
  stdin?: boolean;
  apiKey?: string;
  json?: boolean;
}

/** Reads the key from stdin or a hidden prompt: never from argv, where `ps` would show it. */
export async function readKey(io: IOStreams, roster: Roster, provider: string, opts: KeyOptions): Promise<string> {
  if (opts.apiKey !== undefined && opts.apiKey !== "-") {
    throw new UsageError("--api-key only takes '-' (read the key from stdin): a key on the command line shows in `ps` and shell history");
  }
  if (opts.stdin || opts.apiKey === "-" || !stdinIsTTY(io)) {
    return readAllStdin(io);
  }
  const entry = roster.get(provider);
  const hint = entry.api_key?.key_url ? ` (get one at ${entry.api_key.key_url})` : "";
  io.stderr.write(`Paste the ${entry.label} API key${hint}; it will not be shown.\n`);
  return promptHidden(io, `${entry.api_key?.env_var ?? "API key"}: `);
}

export async function runKey(
  io: IOStreams,
  deps: { roster: Roster; store: CredentialStore },
  provider: string,
  opts: KeyOptions,
): Promise<StoredSummary> {
  deps.roster.get(provider);
  const key = await readKey(io, deps.roster, provider, opts);
  await unlockForSecrets(deps.store, io);
  const { storeApiKey } = await import("../../logins/api-key/apiKey.js");
  const summary = storeApiKey(provider, key, { credentialSet: opts.set, ...deps });
  if (opts.json) printJson(io, summary);
  else out(io, `Stored ${summary.credentialSet}:${summary.provider} (api_key ${summary.preview})`);
  return summary;
}

export function registerKey(program: Command, io: IOStreams): void {
  program
    .command("key")
    .description("store an API key (hidden prompt on a terminal, stdin otherwise)")
    .argument("<provider>", "provider name, see `authctl providers`")
    .option("--set <set>", "credential set", DEFAULT_SET)
    .option("--stdin", "read the key from stdin")
    .addOption(new Option("--api-key <dash>", "only '-': read the key from stdin").hideHelp())
    .option("--json", "print JSON")
    .action(async (provider: string, opts: KeyOptions) => {
      const roster = await cliRoster(io);
      using store = cliStore(io);
      await runKey(io, { roster, store }, provider, opts);
    });
}
