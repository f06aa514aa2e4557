import { chosenSet, readSecret, type ProviderSecret } from "../access/providerSecret.js";
import { credentialReader, serviceGrant, type CredentialReader } from "../access/storedCredential.js";
import type { Authctl } from "../context.js";
import { AuthctlError, MissingCredentialsError } from "../core/errors.js";
import { SET_NAME } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { Provider } from "../roster/schema.js";
import { gitProviderFor, gitUsernameOf, mayCarryToken, type GitHostOptions } from "./gitHosts.js";

export interface GitAnswerOptions {
  /** The set the host's helper entry names (`setup-git --set`); wins over the request's user name. */
  credentialSet?: string;
  /** The set a request that names none reads, resolved by the caller (the service answering for a client); else the context's. */
  defaultSet?: string;
}

/**
 * A request's user name that names a set holding this provider's credential picks that set, so one
 * host serves several accounts by URL: `https://work@github.com/org/repo` reads set "work".
 */
function setNamedBy(context: Authctl, username: string | undefined, provider: string): string | undefined {
  if (!username || !SET_NAME.test(username) || serviceGrant(context)) return undefined;
  return context.store().info(username, provider) ? username : undefined;
}

/** The set a request reads: the helper entry's, else one its user name names, else `AUTHCTL_SET`, else the default. */
export function setFor(context: Authctl, provider: Provider, request: ReadonlyMap<string, string>, options: GitAnswerOptions = {}): string {
  return options.credentialSet ?? setNamedBy(context, request.get("username") || undefined, provider.name) ?? options.defaultSet ?? chosenSet(context);
}

/**
 * Providers with a git host list whose stored login (in the set the request would read) may hold
 * an account for a host the roster does not list (gh logged in to an Enterprise host too). Reads
 * metadata only: the caller unlocks the store only when there is one to look into.
 */
export function loginCandidates(context: Authctl, request: ReadonlyMap<string, string>, options: GitAnswerOptions = {}): Provider[] {
  const host = request.get("host")?.toLowerCase();
  if (!host || !mayCarryToken(request.get("protocol"), host) || serviceGrant(context)) return [];
  return context.roster().list().filter((p) => p.git && context.store().info(setFor(context, p, request, options), p.name)?.kind === "oauth");
}

/** The first candidate whose stored login holds an account named after the request's host. */
export function providerByLoginAccount(context: Authctl, request: ReadonlyMap<string, string>, candidates: readonly Provider[], read: CredentialReader, options: GitAnswerOptions = {}): Provider | undefined {
  const host = request.get("host")?.toLowerCase();
  const holds = (p: Provider) => {
    try {
      return readSecret(context, p.name, { credentialSet: setFor(context, p, request, options) }, read).accounts.some((a) => a.name === host);
    } catch (error) {
      // A login that cannot be read is not this host's: git asks its next helper, as for any other host.
      if (error instanceof AuthctlError) return false;
      throw error;
    }
  };
  return candidates.find(holds);
}

/**
 * The token for the host: a login holding several accounts gives the host's own, never another
 * host's; a roster host its login holds no account for is missing (exit 3 with the login command).
 */
function tokenFor(found: ProviderSecret, provider: Provider, host: string): string {
  if (found.accounts.length === 0) return found.secret;
  const account = found.accounts.find((a) => a.name === host);
  if (account) return account.secret;
  if (!provider.git?.hosts.includes(host)) return found.secret;
  const fix = fixCommandFor(provider, found.credentialSet);
  throw new MissingCredentialsError(
    provider.name,
    found.credentialSet,
    fix,
    `the ${found.credentialSet}:${provider.name} login holds no account for ${host} (it holds ${found.accounts.map((a) => a.name).join(", ")}); log in to ${host}: ${fix}`,
  );
}

/** What `git credential fill` gets for a request `provider` answers: user name, token, and its expiry when known (`read`: `credentialReader`). */
export function gitAnswer(context: Authctl, provider: Provider, request: ReadonlyMap<string, string>, read: CredentialReader, options: GitAnswerOptions = {}): [string, string][] {
  const username = request.get("username") || undefined;
  const found = readSecret(context, provider.name, { credentialSet: setFor(context, provider, request, options) }, read);
  const fields: [string, string][] = [
    ["username", username ?? gitUsernameOf(provider)],
    ["password", tokenFor(found, provider, request.get("host")?.toLowerCase() ?? "")],
  ];
  if (found.expiresAt) fields.push(["password_expiry_utc", String(Math.floor(found.expiresAt.getTime() / 1000))]);
  return fields;
}

/** Where the one who answers git holds the store: unlocked before the first secret, and each read made ready (a refresh). */
export interface GitAnswerSteps {
  unlock(): Promise<void>;
  beforeRead(provider: Provider, credentialSet: string): Promise<void>;
}

/**
 * `git-credential get`'s answer to a parsed request: none (git asks its next helper) for a host no
 * provider answers, else the user name, token and expiry. The CLI and the service both answer so.
 */
export async function gitCredentialFields(
  context: Authctl,
  request: ReadonlyMap<string, string>,
  options: GitAnswerOptions & GitHostOptions,
  steps: GitAnswerSteps,
): Promise<[string, string][]> {
  const { provider: named, host, ...setOpts } = options;
  let provider = gitProviderFor(context.roster(), request, { ...(named ? { provider: named } : {}), ...(host ? { host } : {}) });
  // A host no roster entry lists may still be one a stored login holds (gh on an Enterprise host).
  const candidates = provider || named ? [] : loginCandidates(context, request, setOpts);
  if (!provider && candidates.length === 0) return [];
  await steps.unlock();
  // The service's client loads only for a context handed a service.
  const read = await credentialReader(context);
  provider ??= providerByLoginAccount(context, request, candidates, read, setOpts);
  if (!provider) return [];
  await steps.beforeRead(provider, setFor(context, provider, request, setOpts));
  return gitAnswer(context, provider, request, read, setOpts);
}
