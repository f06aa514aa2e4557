import { assertDeliverable, deliveryPolicyOf, envNamesOf, secretOf } from "../access/delivery.js";
import { refreshIfDue } from "../access/freshness.js";
import { serviceGrant, storedCredentials, type CredentialReader } from "../access/storedCredential.js";
import type { Authctl } from "../context.js";
import { AuthctlError, InvalidCredentialError, MissingCredentialsError, UsageError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";

/** One provider's secret as a child process will get it. */
export interface Grant {
  provider: string;
  kind: string;
  envNames: string[];
  secret: string;
}

export interface Grants {
  credentialSet: string;
  grants: Grant[];
  /** Credentials of the set left out, and why (proxy_only, no env var in the roster). */
  skipped: { provider: string; reason: string }[];
}

export interface ResolveGrantsOptions {
  credentialSet?: string;
  /** Exactly these providers (each must be stored and deliverable); default: every deliverable one in the set. */
  only?: readonly string[];
  /** provider → one more variable its secret is exported under (a project file's `env`). */
  extraEnvNames?: Readonly<Record<string, string>>;
  /** How each credential is read (`credentialReader`: the service inside another run); default the store. */
  read?: CredentialReader;
}

/** The set's stored providers the roster knows, then those the roster gives a secret `source`. */
function storedOrSourced(context: Authctl, credentialSet: string): string[] {
  const roster = context.roster();
  const stored = context.store().list({ credentialSet }).map((c) => c.provider).filter((p) => roster.has(p));
  const sourced = roster.list().filter((p) => p.source).map((p) => p.name);
  return [...new Set([...stored, ...sourced])];
}

/**
 * A named set with no rows is a typo far more often than an intent: running the command without
 * its credentials would fail later and further from the cause.
 */
function assertSetExists(context: Authctl, credentialSet: string): void {
  const sets = [...new Set(context.store().list().map((c) => c.credentialSet))];
  if (sets.includes(credentialSet)) return;
  const fix = `authctl key <provider> --set ${credentialSet}`;
  const existing = sets.length > 0 ? `sets that exist: ${sets.join(", ")}` : "no set holds a credential yet";
  throw new MissingCredentialsError("", credentialSet, fix, `no credential set "${credentialSet}" (${existing}); pick one of those with --set, or store a credential in it: ${fix}`);
}

/**
 * Before the grants are read: each host login about to be exported whose access token lapses
 * soon is refreshed and stored, so a child never starts with a token that no longer works.
 * Inside another run there is no store to refresh in: the service answers for it.
 */
export async function refreshDueLogins(context: Authctl, options: ResolveGrantsOptions & { signal?: AbortSignal } = {}): Promise<void> {
  if (serviceGrant(context)) return;
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const roster = context.roster();
  const names = options.only ? options.only.filter((p) => roster.has(p)).map((p) => roster.get(p).name) : context.store().list({ credentialSet }).map((c) => c.provider);
  for (const name of new Set(names)) {
    const info = context.store().info(credentialSet, name);
    if (!info || !roster.has(name) || deliveryPolicyOf(roster.get(name), info.kind) !== "runtime_env") continue;
    try {
      // A row whose facts say it is not due is not opened twice (resolveGrants opens it, and fails on facts changed in the database).
      await refreshIfDue(context, credentialSet, name, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      // A row of no known shape is resolveGrants' to report (or leave out).
      if (!(error instanceof InvalidCredentialError)) throw error;
    }
  }
}

/**
 * Reads every credential a `run` will export, before anything starts: a missing one throws
 * `MissingCredentialsError` (with its fix command) and an explicitly named `proxy_only` one
 * `DeliveryRefusedError`; with no `only`, such credentials are skipped and reported instead.
 */
export function resolveGrants(context: Authctl, options: ResolveGrantsOptions = {}): Grants {
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const roster = context.roster();
  const explicit = options.only !== undefined;
  if (!explicit && credentialSet !== DEFAULT_SET) assertSetExists(context, credentialSet);
  const providers = explicit
    ? [...new Set(options.only)].map((p) => roster.get(p).name)
    : storedOrSourced(context, credentialSet);
  const read = options.read ?? storedCredentials;
  const grants: Grant[] = [];
  const skipped: Grants["skipped"] = [];
  for (const name of providers) {
    const provider = roster.get(name);
    if (!explicit) {
      const info = context.store().info(credentialSet, name);
      if (info && deliveryPolicyOf(provider, info.kind) === "proxy_only") {
        skipped.push({ provider: name, reason: `${info.kind} is proxy_only (use it through the credential proxy)` });
        continue;
      }
    }
    let credential;
    try {
      credential = read(name, { context, credentialSet });
    } catch (error) {
      // A row of no known shape stops a run that names it; a run of the whole set leaves it out and says why.
      if (explicit || !(error instanceof InvalidCredentialError)) throw error;
      skipped.push({ provider: name, reason: error.message });
      continue;
    }
    assertDeliverable(provider, credential);
    const extra = options.extraEnvNames?.[name];
    const envNames = [...new Set([...envNamesOf(provider, credential.kind), ...(extra ? [extra] : [])])];
    const secret = secretOf(credential);
    const problem = envNames.length === 0 ? "its roster entry names no environment variable" : !secret ? `its ${credential.kind} credential holds no secret to export now` : undefined;
    if (problem) {
      if (explicit) throw new AuthctlError(`cannot export ${credentialSet}:${name}: ${problem}`);
      skipped.push({ provider: name, reason: problem });
      continue;
    }
    grants.push({ provider: name, kind: credential.kind, envNames, secret: secret! });
  }
  assertNoCollision(credentialSet, grants);
  return { credentialSet, grants, skipped };
}

/**
 * Two providers exporting one variable (claude and anthropic both set ANTHROPIC_API_KEY) with
 * different secrets: whichever wins, the child talks to a vendor with a key the user did not
 * choose, so the user chooses. The same secret under both names chooses nothing and passes.
 */
function assertNoCollision(credentialSet: string, grants: readonly Grant[]): void {
  const owner = new Map<string, Grant>();
  for (const grant of grants) {
    for (const name of grant.envNames) {
      const first = owner.get(name);
      if (first && first.secret !== grant.secret) {
        const set = credentialSet === DEFAULT_SET ? "" : ` --set ${credentialSet}`;
        throw new UsageError(
          `${first.provider} and ${grant.provider} would both set ${name} (with different secrets) in set "${credentialSet}"; ` +
            `choose one: authctl run${set} --only ${first.provider} -- … or authctl run${set} --only ${grant.provider} -- …`,
        );
      }
      owner.set(name, first ?? grant);
    }
  }
}
