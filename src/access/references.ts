import type { Authctl } from "../context.js";
import { MissingCredentialsError, UnknownProviderError, UsageError } from "../core/errors.js";
import { assertSetName, PROVIDER_NAME } from "../core/names.js";
import { readSecret, type ProviderSecret } from "./providerSecret.js";
import { credentialReader, type CredentialReader } from "./storedCredential.js";

/** `authctl://<set>/<provider>[/<field>]`: a secret named where a value goes (like 1Password's `op://`). */
const REFERENCE = /^authctl:\/\/([^/\s]+)\/([^/\s]+)(?:\/([^/\s]+))?$/;
/** `{{ authctl://… }}` in a template. */
const TEMPLATE_REFERENCE = /\{\{\s*(authctl:\/\/[^\s}]*)\s*\}\}/g;

export const isReference = (value: string) => value.startsWith("authctl://");

export interface ResolvedReference extends Pick<ProviderSecret, "credentialSet" | "provider" | "kind"> {
  reference: string;
  secret: string;
}

/**
 * The secret a reference names, through the credential model (`secretFor`: proxy_only refused).
 * `<field>` picks a named part only where the credential's type has named parts: the accounts of
 * a login holding several (gh's hosts). An unknown provider or a missing credential is
 * `MissingCredentialsError` naming the reference, with the command that fixes it.
 */
export function resolveReference(context: Authctl, reference: string, read: CredentialReader): ResolvedReference {
  const m = REFERENCE.exec(reference);
  if (!m) throw new UsageError(`${reference.slice(0, 80)} is not a reference: write authctl://<set>/<provider>[/<field>]`);
  const [, set, provider, field] = m as unknown as [string, string, string, string | undefined];
  const credentialSet = assertSetName(set);
  if (!PROVIDER_NAME.test(provider)) throw new UsageError(`${reference}: "${provider.slice(0, 40)}" is not a provider name (see \`authctl providers\`)`);
  let found: ProviderSecret;
  try {
    found = readSecret(context, provider, { credentialSet }, read);
  } catch (error) {
    if (error instanceof UnknownProviderError) throw new MissingCredentialsError(provider, credentialSet, "authctl providers", `${reference}: ${error.message}`);
    if (error instanceof MissingCredentialsError) throw new MissingCredentialsError(error.provider, error.credentialSet, error.fixCommand, `${reference}: ${error.message}`);
    throw error;
  }
  const base = { reference, credentialSet: found.credentialSet, provider: found.provider, kind: found.kind };
  if (field === undefined) return { ...base, secret: found.secret };
  const account = found.accounts.find((a) => a.name === field);
  if (account) return { ...base, secret: account.secret };
  const parts = found.accounts.map((a) => a.name);
  throw new UsageError(
    `${reference}: ${found.credentialSet}:${found.provider} (${found.kind}) has no part named "${field.slice(0, 60)}"; ` +
      (parts.length > 0 ? `its parts: ${parts.join(", ")}` : `its type has no named parts: write authctl://${found.credentialSet}/${found.provider}`),
  );
}

/**
 * Each variable whose value is a reference, resolved: every one is checked before any is used.
 * Without a reference nothing is read (nor the service's client loaded).
 */
export async function resolveEnvReferences(context: Authctl, env: Readonly<Record<string, string | undefined>>): Promise<Map<string, ResolvedReference>> {
  const resolved = new Map<string, ResolvedReference>();
  const references = Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && isReference(e[1]));
  if (references.length === 0) return resolved;
  const read = await credentialReader(context);
  for (const [name, value] of references) resolved.set(name, resolveReference(context, value, read));
  return resolved;
}

/** A template with every `{{ authctl://… }}` replaced by its secret; a reference that cannot be resolved stops it all. */
export async function renderTemplate(context: Authctl, template: string): Promise<{ text: string; secrets: string[] }> {
  const read = await credentialReader(context);
  const secrets = new Map<string, string>();
  for (const m of template.matchAll(TEMPLATE_REFERENCE)) if (!secrets.has(m[1]!)) secrets.set(m[1]!, resolveReference(context, m[1]!, read).secret);
  return { text: template.replace(TEMPLATE_REFERENCE, (_, ref: string) => secrets.get(ref)!), secrets: [...secrets.values()] };
}
