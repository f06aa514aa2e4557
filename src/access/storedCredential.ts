import { contextFrom, type Authctl, type WithContext } from "../context.js";
import { ProviderArgument, SetOptions, validateArguments } from "../core/arguments.js";
import { MissingCredentialsError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import { typedCredential } from "../credentials/index.js";
import type { StoredCredential } from "../store/store.js";
import { commandCredential, commandCredentialAsync } from "./commandCredential.js";
import type { CommandSourcePayload, CommandSourceSpec } from "./commandSource.js";

// Reading from this machine's store, apart from getCredentials' other way in (the service's wire
// client, credentials.ts): a command that reads the store loads no client.

export interface GetCredentialsOptions extends WithContext {
  credentialSet?: string;
}

/** How a credential is read: `getCredentials`, or `storedCredentials` where no service was handed over. */
export type CredentialReader = <T = unknown>(provider: string, options: GetCredentialsOptions) => StoredCredential<T>;

/** The service a process inside `authctl run` (or a container session) was handed, if any. */
export function serviceGrant(context: Authctl): { socketPath: string; token: string } | undefined {
  const socketPath = context.env.AUTHCTL_SOCKET;
  const token = context.env.AUTHCTL_TOKEN;
  return socketPath && token ? { socketPath, token } : undefined;
}

/** `getCredentials` for a context that holds no service grant: the store, secret sources included. */
export function storedCredentials<T = unknown>(provider: string, options: GetCredentialsOptions = {}): StoredCredential<T> {
  validateArguments("getCredentials", { provider: [ProviderArgument, provider], options: [SetOptions, options] });
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  const found = readCredential(context, credentialSet, entry.name);
  if (!found) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
  return found as StoredCredential<T>;
}

/** The reader for this context: through the service it was handed (its client loaded only then), else the store. */
export async function credentialReader(context: Authctl): Promise<CredentialReader> {
  return serviceGrant(context) ? (await import("./credentials.js")).getCredentials : storedCredentials;
}

/**
 * The credential for (set, provider) from this machine, secret sources included: a stored
 * `command` row, else the roster's `source`, runs its command now, or returns its output cached
 * in the row when the source asks for `cache`. A stored row of another kind wins over the roster's
 * source; a row that only caches the roster's source is dropped once the roster stops asking.
 * Undefined when there is none.
 */
export function readCredential(context: Authctl, credentialSet: string, provider: string): StoredCredential | undefined {
  const found = findCredential(context, credentialSet, provider);
  return found && "spec" in found ? commandCredential(context, credentialSet, provider, found.spec, found.row) : found?.credential;
}

/** `readCredential` with a secret command run without blocking the event loop (the service). */
export async function readCredentialAsync(context: Authctl, credentialSet: string, provider: string): Promise<StoredCredential | undefined> {
  const found = findCredential(context, credentialSet, provider);
  return found && "spec" in found ? commandCredentialAsync(context, credentialSet, provider, found.spec, found.row) : found?.credential;
}

/** A stored credential, or the command source that stands for it (with the row caching it), or none. */
function findCredential(
  context: Authctl,
  credentialSet: string,
  provider: string,
): { credential: StoredCredential } | { spec: CommandSourceSpec; row?: StoredCredential<CommandSourcePayload> } | undefined {
  const store = context.store();
  let row = store.get(credentialSet, provider);
  const source = context.roster().has(provider) ? context.roster().get(provider).source : undefined;
  if (row?.kind === "command") {
    const stored = row as StoredCredential<CommandSourcePayload>;
    if (stored.payload.origin !== "roster") return { spec: stored.payload, row: stored };
    if (source?.cache) return { spec: { ...source, origin: "roster" }, row: stored };
    if (!store.readOnlyReason) store.remove(credentialSet, provider);
    row = undefined;
  }
  // An older row (its payload without `type`) is read as today's, and one of no known shape is an error naming it.
  if (row) return { credential: typedCredential(row) };
  return source ? { spec: { ...source, origin: "roster" } } : undefined;
}
