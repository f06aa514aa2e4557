import { keepCached } from "./commandCredential.js";
import { runSecretCommand, runSecretCommandAsync, type CommandSourcePayload } from "./commandSource.js";
import { contextFrom, type Authctl, type WithContext } from "../context.js";
import * as z from "zod";
import { ProviderArgument, SetOptions, validateArguments } from "../core/arguments.js";
import { UsageError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { checkKeyFormat } from "../logins/api-key/apiKey.js";
import { SourceSchema } from "../roster/sourceSchema.js";
import { recordCredential, type CredentialSummary } from "../credentials/index.js";

export interface StoreCommandSourceOptions extends WithContext {
  credentialSet?: string;
  timeoutMs?: number;
  /** Keep the command's output (sealed in the store) this many seconds, at most a day; absent: never cached. */
  cacheTtlS?: number;
  /** Store it even when its first output does not look like the provider's key. */
  force?: boolean;
}

/**
 * Stores a `command` credential: the argv of a command that prints the secret (`vault kv get …`,
 * `op read …`), run once now to prove it works. Only the argv is stored, never what it prints —
 * unless `cacheTtlS` asks to cache: then this first output is kept, sealed, until it expires.
 * The command may run for its whole timeout (minutes for a vault that asks for a touch): the event
 * loop keeps turning meanwhile, so a daemon or a server calling this goes on answering.
 */
export async function storeCommandSourceAsync(provider: string, command: readonly string[], options: StoreCommandSourceOptions = {}): Promise<CredentialSummary> {
  const source = commandSource("storeCommandSourceAsync", provider, command, options);
  return stored(source, await runSecretCommandAsync(source.context, source.provider, source.payload), options);
}

/**
 * `storeCommandSourceAsync` that blocks this thread until the command ends.
 * @deprecated Use {@link storeCommandSourceAsync}: this one stops every timer, socket and request of
 * the process while the command runs (up to its timeout).
 */
export function storeCommandSource(provider: string, command: readonly string[], options: StoreCommandSourceOptions = {}): CredentialSummary {
  const source = commandSource("storeCommandSource", provider, command, options);
  return stored(source, runSecretCommand(source.context, source.provider, source.payload), options);
}

interface CommandSource {
  context: Authctl;
  credentialSet: string;
  provider: string;
  payload: CommandSourcePayload;
}

function commandSource(caller: string, provider: string, command: readonly string[], options: StoreCommandSourceOptions): CommandSource {
  validateArguments(caller, { provider: [ProviderArgument, provider], command: [z.array(z.string()), command], options: [SetOptions, options] });
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  const parsed = SourceSchema.safeParse({
    command,
    ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }),
    ...(options.cacheTtlS === undefined ? {} : { cache: true, cache_ttl_s: options.cacheTtlS }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${entry.name}: the secret command's ${issue.path.join(".") || "argv"} ${issue.message}`);
  }
  const { command: argv, timeout_ms, cache_ttl_s } = parsed.data;
  const payload: CommandSourcePayload = { type: "command", command: argv, timeout_ms, ...(cache_ttl_s === undefined ? {} : { cache_ttl_s }) };
  return { context, credentialSet, provider: entry.name, payload };
}

function stored({ context, credentialSet, provider, payload }: CommandSource, key: string, options: StoreCommandSourceOptions): CredentialSummary {
  const roster = context.roster();
  if (!options.force) checkKeyFormat(roster.get(provider), key, roster.list());
  return keepCached(context, credentialSet, provider, payload, key, "stored") ?? recordCredential(context, { credentialSet, provider, payload });
}
