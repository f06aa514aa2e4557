import { Command, Option } from "commander";
import { UsageError } from "../../core/errors.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { StoredSummary } from "../../logins/api-key/apiKey.js";
import type { Roster } from "../../roster/load.js";
import { promptHidden, readAllStdin } from "../../ui/prompt.js";
import type { Factory } from "../factory.js";
import { type IOStreams, out, printJson, stdinIsTTY } from "../io.js";

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

export async function runKey(f: Factory, provider: string, opts: KeyOptions): Promise<StoredSummary> {
  const context = await f.context();
  context.roster().get(provider);
  const key = await readKey(f.io, context.roster(), provider, opts);
  await f.unlockedStore();
  const { storeApiKey } = await import("../../logins/api-key/apiKey.js");
  const summary = storeApiKey(provider, key, { context, credentialSet: opts.set });
  if (opts.json) printJson(f.io, summary);
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (api_key ${summary.preview})`);
  return summary;
}

export function keyCommand(f: Factory): Command {
  return new Command("key")
    .description("store an API key (hidden prompt on a terminal, stdin otherwise)")
    .argument("<provider>", "provider name, see `authctl providers`")
    .option("--set <set>", "credential set", DEFAULT_SET)
    .option("--stdin", "read the key from stdin")
    .addOption(new Option("--api-key <dash>", "only '-': read the key from stdin").hideHelp())
    .option("--json", "print JSON")
    .action(async (provider: string, opts: KeyOptions) => void (await runKey(f, provider, opts)));
}
