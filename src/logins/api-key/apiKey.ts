import * as z from "zod";
import { ProviderArgument, SetOptions, validateArguments } from "../../core/arguments.js";
import { lazy } from "../../core/lazy.js";
import { InvalidApiKeyError, ModeUnavailableError } from "../../core/errors.js";
import { contextFrom, type WithContext } from "../../context.js";
import type { Provider } from "../../roster/schema.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import { recordCredential, type CredentialSummary } from "../../credentials/index.js";
import { longestMatch } from "./keyPrefix.js";

export type { ApiKeyPayload } from "../../credentials/apiKey.js";

/** @deprecated use `CredentialSummary`: the one summary every login returns. */
export type StoredSummary = CredentialSummary;

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;
const MAX_KEY_LENGTH = 4096;

/** Throws an error that names the provider and what is wrong, never the key itself. */
export function validateApiKey(provider: Provider, key: string, options: KeyFormatOptions = {}): string {
  const label = `${provider.name} API key`;
  if (!provider.api_key || !provider.modes.includes("api_key")) {
    throw new ModeUnavailableError(`${provider.name} does not take an API key (modes: ${provider.modes.join(", ")})`);
  }
  if (key.length === 0) throw new InvalidApiKeyError(`the ${label} is empty`);
  if (key.trim().length === 0) throw new InvalidApiKeyError(`the ${label} is only whitespace`);
  if (FORBIDDEN.test(key)) {
    throw new InvalidApiKeyError(
      `the ${label} contains whitespace or control characters (a stray newline or a paste of several lines?)`,
    );
  }
  if (key.length > MAX_KEY_LENGTH) throw new InvalidApiKeyError(`the ${label} is longer than ${MAX_KEY_LENGTH} characters`);
  if (!options.force) checkKeyFormat(provider, key, options.roster ?? []);
  return key;
}

export interface KeyFormatOptions {
  /** The providers a key of the wrong vendor is recognised by (their `api_key.prefixes`). */
  roster?: readonly Provider[];
  /** Store an unusual key anyway: only the checks that protect the store (empty, whitespace, length) apply. */
  force?: boolean;
}

export { keyPrefixOwners } from "./keyPrefix.js";

/**
 * A key must start with one of the provider's roster prefixes, and no other provider may claim it
 * by a more specific one (`sk-ant-` is Anthropic's, though OpenAI's `sk-` matches it too).
 * Names the provider and the prefixes, never the key.
 */
export function checkKeyFormat(provider: Provider, key: string, roster: readonly Provider[]): void {
  const label = `${provider.name} API key`;
  const prefixes = provider.api_key?.prefixes;
  if (!prefixes?.length) return;
  const own = longestMatch(prefixes, key);
  const owners = roster.filter((p) => p.name !== provider.name && longestMatch(p.api_key?.prefixes, key) > own);
  if (owners.length > 0) {
    const names = owners.map((p) => p.name);
    throw new InvalidApiKeyError(
      `the ${label} looks like a key of ${names.join(" or ")} (a more specific prefix of theirs): store it with \`authctl key ${names[0]}\`, or add --force to store it for ${provider.name} anyway`,
    );
  }
  if (own < 0) {
    const where = provider.api_key?.key_url ? `; get one at ${provider.api_key.key_url}` : "";
    throw new InvalidApiKeyError(
      `the ${label} does not look right: expected it to start with ${prefixes.map((p) => `"${p}"`).join(" or ")}${where} (add --force to store it anyway)`,
    );
  }
}

const StoreApiKeyArgs = lazy(() => SetOptions.extend({ force: z.boolean().optional() }));

export interface StoreApiKeyOptions extends WithContext {
  credentialSet?: string;
  /** Store a key that does not look like the provider's (see `checkKeyFormat`). */
  force?: boolean;
}

/** Validates and stores `{type:"api_key", key}` for (set, provider). The non-interactive path for CI. */
export function storeApiKey(provider: string, key: string, options: StoreApiKeyOptions = {}): CredentialSummary {
  validateArguments("storeApiKey", { provider: [ProviderArgument, provider], options: [StoreApiKeyArgs, options] });
  validateArguments("storeApiKey", { key: [z.string(), key] }, InvalidApiKeyError);
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  validateApiKey(entry, key, { roster: context.roster().list(), force: options.force === true });
  return recordCredential(context, { credentialSet, provider: entry.name, payload: { type: "api_key", key } });
}
