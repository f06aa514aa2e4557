import { InvalidApiKeyError, ModeUnavailableError } from "../../core/errors.js";
import { contextFrom, type WithContext } from "../../context.js";
import type { Provider } from "../../roster/schema.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import { recordCredential, type CredentialSummary } from "../../credentials/index.js";

export type { ApiKeyPayload } from "../../credentials/apiKey.js";

/** @deprecated use `CredentialSummary`: the one summary every login returns. */
export type StoredSummary = CredentialSummary;

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;
const MAX_KEY_LENGTH = 4096;

/** Throws an error that names the provider and what is wrong, never the key itself. */
export function validateApiKey(provider: Provider, key: string): string {
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
  const prefixes = provider.api_key.prefixes;
  if (prefixes?.length && !prefixes.some((p) => key.startsWith(p))) {
    const where = provider.api_key.key_url ? `; get one at ${provider.api_key.key_url}` : "";
    throw new InvalidApiKeyError(
      `the ${label} does not look right: expected it to start with ${prefixes.map((p) => `"${p}"`).join(" or ")}${where}`,
    );
  }
  return key;
}

export interface StoreApiKeyOptions extends WithContext {
  credentialSet?: string;
}

/** Validates and stores `{type:"api_key", key}` for (set, provider). The non-interactive path for CI. */
export function storeApiKey(provider: string, key: string, options: StoreApiKeyOptions = {}): CredentialSummary {
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  validateApiKey(entry, key);
  return recordCredential(context, { credentialSet, provider: entry.name, payload: { type: "api_key", key } });
}
