import { chosenSet, secretFor } from "../access/secret.js";
import type { Authctl } from "../context.js";
import { AuthctlError, MissingCredentialsError, UsageError } from "../core/errors.js";
import { storeApiKey } from "../logins/api-key/apiKey.js";
import type { Roster } from "../roster/load.js";
import type { Provider } from "../roster/schema.js";

/** What docker reads from `get` and writes to `store`: its field names, not ours. */
export interface DockerCredential {
  ServerURL: string;
  Username: string;
  Secret: string;
}

/**
 * A request for a registry no roster entry declares, or one whose credential is not stored: docker
 * then goes on without credentials (a public image still pulls). It matches this error by the
 * message below, the one its own helpers print.
 */
export const DOCKER_NOT_FOUND = "credentials not found in native keychain";

export class DockerCredentialsNotFoundError extends AuthctlError {
  /** `detail`: why, and what to do, for a person running the helper by hand (docker reads only the message). */
  constructor(readonly detail: string) {
    super(DOCKER_NOT_FOUND);
  }
}

/**
 * The registry host of a server URL as docker passes it: `127.0.0.1:5000`, `https://ghcr.io`, or
 * Docker Hub's `https://index.docker.io/v1/`. Lowercase, port kept, scheme and path dropped.
 */
export function registryHostOf(serverUrl: string): string {
  const text = serverUrl.trim();
  if (text === "" || text.length > 2048) throw new UsageError("docker credential request: the server URL is empty or too long; docker passes the registry's address");
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  try {
    return new URL(withScheme).host.toLowerCase();
  } catch {
    throw new UsageError(`docker credential request: ${JSON.stringify(text.slice(0, 60))} is not a registry address (host[:port] or a URL)`);
  }
}

/** The roster entry whose `registry.hosts` lists the host, if any. */
export function registryProviderFor(roster: Roster, host: string): Provider | undefined {
  return roster.list().find((p) => p.registry?.hosts.includes(host) === true);
}

function providerOrNotFound(context: Authctl, serverUrl: string): Provider {
  const host = registryHostOf(serverUrl);
  const provider = registryProviderFor(context.roster(), host);
  if (!provider) throw new DockerCredentialsNotFoundError(`no roster entry lists ${host} under registry.hosts; add one (docs/helpers.md) to log docker in to it`);
  return provider;
}

export interface DockerCredentialOptions {
  /** The set to read or write; default `AUTHCTL_SET`, else the default set. */
  credentialSet?: string;
}

/**
 * docker's `get`: the roster's user name for the registry and the stored secret. A registry no
 * entry declares, or a credential not stored, is `DockerCredentialsNotFoundError` (with the fix in
 * its detail); a refusal (proxy_only, a locked store) is the error itself.
 */
export function dockerGet(context: Authctl, serverUrl: string, options: DockerCredentialOptions = {}): DockerCredential {
  const provider = providerOrNotFound(context, serverUrl);
  try {
    const found = secretFor(context, provider.name, options);
    return { ServerURL: serverUrl.trim(), Username: provider.registry!.username, Secret: found.secret };
  } catch (error) {
    if (error instanceof MissingCredentialsError) throw new DockerCredentialsNotFoundError(error.message);
    throw error;
  }
}

/** docker's `list`: each declared registry host whose credential the set holds, with its user name. Reads metadata only. */
export function dockerList(context: Authctl, options: DockerCredentialOptions = {}): Record<string, string> {
  const credentialSet = chosenSet(context, options.credentialSet);
  const listed: Record<string, string> = {};
  for (const provider of context.roster().list()) {
    if (!provider.registry || !context.store().info(credentialSet, provider.name)) continue;
    for (const host of provider.registry.hosts) listed[host] = provider.registry.username;
  }
  return listed;
}

/** The JSON docker writes to `store`, checked field by field; the secret is never quoted back. */
export function parseDockerStore(text: string): DockerCredential {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError("docker credential store: stdin is not JSON; docker writes {\"ServerURL\",\"Username\",\"Secret\"}");
  }
  const record = (value ?? {}) as Record<string, unknown>;
  for (const field of ["ServerURL", "Username", "Secret"] as const) {
    if (typeof record[field] !== "string" || record[field] === "") throw new UsageError(`docker credential store: the ${field} field is missing or not a string`);
  }
  return { ServerURL: record.ServerURL as string, Username: record.Username as string, Secret: record.Secret as string };
}

export interface DockerStoreResult {
  credentialSet: string;
  provider: string;
  /** False when the store already held this secret: `docker login` stores what it just read back. */
  changed: boolean;
}

/**
 * docker's `store`, after a login the registry accepted: the secret becomes the registry
 * provider's key in the set (as `authctl key` stores it), so `docker login --password-stdin` is one
 * more way in and authctl stays the one place it lives. A registry no roster entry declares, or a
 * user name other than the roster's, is refused: the next `get` could not give it back.
 */
export function dockerStore(context: Authctl, credential: DockerCredential, options: DockerCredentialOptions = {}): DockerStoreResult {
  const host = registryHostOf(credential.ServerURL);
  const provider = registryProviderFor(context.roster(), host);
  if (!provider) {
    throw new AuthctlError(`authctl keeps credentials only for registries a roster entry declares, and none lists ${host} under registry.hosts; add one (docs/helpers.md), or remove ${host} from credHelpers in docker's config.json`);
  }
  const { username } = provider.registry!;
  if (credential.Username !== username) {
    throw new AuthctlError(`${host} is ${provider.name}'s registry with user name ${JSON.stringify(username)} in the roster; log in as that user, or change registry.username in ${provider.name}'s roster entry`);
  }
  const credentialSet = chosenSet(context, options.credentialSet);
  if (sameSecret(context, provider.name, credentialSet, credential.Secret)) return { credentialSet, provider: provider.name, changed: false };
  storeApiKey(provider.name, credential.Secret, { context, credentialSet, force: true });
  return { credentialSet, provider: provider.name, changed: true };
}

function sameSecret(context: Authctl, provider: string, credentialSet: string, secret: string): boolean {
  try {
    return secretFor(context, provider, { credentialSet }).secret === secret;
  } catch (error) {
    if (error instanceof MissingCredentialsError) return false;
    throw error;
  }
}

/**
 * docker's `erase` (`docker logout`) is refused: the credential is authctl's, shared with every
 * other door (`run`, `token`), and a logout from one tool should not remove it from all of them.
 */
export function dockerErase(context: Authctl, serverUrl: string, options: DockerCredentialOptions = {}): never {
  const provider = providerOrNotFound(context, serverUrl);
  const credentialSet = chosenSet(context, options.credentialSet);
  throw new AuthctlError(`authctl keeps ${credentialSet}:${provider.name} for ${registryHostOf(serverUrl)}; docker logout does not remove it. To remove it: authctl creds rm ${credentialSet}:${provider.name}`);
}
