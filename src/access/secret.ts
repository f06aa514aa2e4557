import type { Authctl } from "../context.js";
import { getCredentials } from "./credentials.js";
import { readSecret, type ProviderSecret, type SecretForOptions } from "./providerSecret.js";

export { chosenSet, readSecret, type ProviderSecret, type SecretForOptions } from "./providerSecret.js";

/**
 * The secret of (set, provider) for a program that asks for it: `MissingCredentialsError` (with its
 * fix) when none is stored, `DeliveryRefusedError` when the roster keeps it for the proxy alone.
 * The same read as `authctl run` (the local service inside a run, secret sources included).
 */
export function secretFor(context: Authctl, provider: string, options: SecretForOptions = {}): ProviderSecret {
  return readSecret(context, provider, options, getCredentials);
}
