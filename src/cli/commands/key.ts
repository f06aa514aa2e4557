import { Command, Option } from "commander";
import { UsageError } from "../../core/errors.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { StoredSummary } from "../../logins/api-key/apiKey.js";
import type { Roster } from "../../roster/load.js";
import { apiKeyQuestion, promptHidden, readAllStdin } from "../../ui/prompt.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { type IOStreams, out, printJson, stdinIsTTY } from "../io.js";
import { credentialSetFor } from "./auth.js";

export interface KeyOptions {
  set?: string;
  project?: string;
  stdin?: boolean;
  apiKey?: string;
  json?: boolean;
  command?: boolean;
  timeout?: string;
  cache?: string;
  force?: boolean;
}

/** Reads the key from stdin or a hidden prompt: never from argv, where `ps` would show it. */
export async function readKey(io: IOStreams, roster: Roster, provider: string, opts: KeyOptions): Promise<string> {
  if (opts.apiKey !== undefined && opts.apiKey !== "-") {
    throw new UsageError("--api-key only takes '-' (read the key from stdin): a key on the command line shows in `ps` and shell history");
  }
  // `--stdin` at a terminal would echo the key as it is typed: a terminal is always read hidden.
  if (!stdinIsTTY(io)) return readAllStdin(io);
  return promptHidden(io, apiKeyQuestion(roster.get(provider)));
}

export async function runKey(f: Factory, provider: string, opts: KeyOptions, argv: readonly string[] = []): Promise<StoredSummary> {
  const context = await f.context();
  context.roster().get(provider);
  if (opts.command) return runKeyCommand(f, provider, opts, argv);
  if (opts.cache !== undefined) throw new UsageError("--cache only applies with --command: a stored key is kept anyway");
  if (argv.length > 0) throw new UsageError(`unexpected arguments after ${provider}: a key is read from stdin or a prompt; to store a command that prints it, add --command`);
  const key = await readKey(f.io, context.roster(), provider, opts);
  await f.unlockedStore();
  const { storeApiKey } = await import("../../logins/api-key/apiKey.js");
  const summary = storeApiKey(provider, key, { context, credentialSet: credentialSetFor(opts), force: opts.force === true });
  if (opts.json) printJson(f.io, summary);
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (api_key ${summary.preview})`);
  return summary;
}

/** `key <provider> --command -- argv…`: stores the command that prints the key, not the key. */
async function runKeyCommand(f: Factory, provider: string, opts: KeyOptions, argv: readonly string[]): Promise<StoredSummary> {
  if (argv.length === 0) throw new UsageError(`--command needs the command after --, e.g. authctl key ${provider} --command -- vault kv get -field=key secret/x`);
  const timeoutMs = opts.timeout === undefined ? undefined : Number(opts.timeout);
  if (timeoutMs !== undefined && !Number.isInteger(timeoutMs)) throw new UsageError(`--timeout takes milliseconds, got ${JSON.stringify(opts.timeout)}`);
  const cacheTtlS = opts.cache === undefined ? undefined : Number(opts.cache);
  if (cacheTtlS !== undefined && !Number.isInteger(cacheTtlS)) throw new UsageError(`--cache takes a whole number of seconds (at most 86400), got ${JSON.stringify(opts.cache)}`);
  const context = await f.context();
  await f.unlockedStore();
  const { storeCommandSourceAsync } = await import("../../access/storeCommandSource.js");
  const summary = await storeCommandSourceAsync(provider, argv, { context, credentialSet: credentialSetFor(opts), force: opts.force === true, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(cacheTtlS === undefined ? {} : { cacheTtlS }) });
  if (opts.json) printJson(f.io, summary);
  else if (cacheTtlS !== undefined) out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (command ${summary.preview}; its output is kept encrypted for ${cacheTtlS} s, then it runs again)`);
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (command ${summary.preview}; run on each use, its output never stored)`);
  return summary;
}

export function keyCommand(f: Factory): Command {
  const command = new Command("key")
    .description("store an API key (hidden prompt on a terminal, stdin otherwise)")
    .argument("<provider>", "provider name, see `authctl providers`")
    .argument("[command...]", "with --command: the command that prints the key, after --")
    .option("--set <set>", `credential set (default: the --project, else '${DEFAULT_SET}')`)
    .option("--project <project>", "the project's credential set, as `auth --project` logs in to it (unless --set is given)")
    .option("--stdin", "read the key from stdin")
    .addOption(new Option("--api-key <dash>", "only '-': read the key from stdin").hideHelp())
    .option("--command", "store a command that prints the key (vault, op, bw …) instead of the key; it runs on each use")
    .option("--timeout <ms>", "with --command: kill the command after this many milliseconds (default 10000)")
    .option("--cache <seconds>", "with --command: keep its output, encrypted in the store, this many seconds (at most 86400) instead of running it on each use")
    .option("--force", "store a key that does not look like the provider's (another prefix, or another provider's)")
    .option("--json", "print JSON")
    .action(async (provider: string, argv: string[], opts: KeyOptions) => void (await runKey(f, provider, opts, argv)));
  return withExamples(command, f.io, [
    ["paste a key at a hidden prompt", "authctl key anthropic"],
    ["from a pipe, into the ci set", "printenv GITHUB_TOKEN | authctl key gh --set ci --stdin"],
    ["keep a command that prints the key, run on each use", "authctl key openai --command -- op read op://dev/openai/key"],
  ]);
}
