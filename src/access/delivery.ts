import { DeliveryRefusedError } from "../core/errors.js";
import type { DeliveryPolicy } from "../roster/deliverySchema.js";
import type { Provider } from "../roster/schema.js";
import type { CredentialKind, StoredCredential } from "../store/store.js";

/** The secret a credential delivers: its type says which value that is. */
export { secretOf } from "../credentials/index.js";

/** A command source stands in for an API key: same policy, same variable. */
const modeOf = (kind: CredentialKind) => (kind === "api_key" || kind === "command" ? "api_key" : "oauth");

/** The roster's delivery policy for this kind of credential (default `runtime_env`). */
export function deliveryPolicyOf(provider: Provider, kind: CredentialKind): DeliveryPolicy {
  const policy = provider.delivery?.policy ?? "runtime_env";
  return typeof policy === "string" ? policy : (policy[modeOf(kind)] ?? "runtime_env");
}

/** Throws unless the credential may leave authctl as a plain secret. */
export function assertDeliverable(provider: Provider, credential: Pick<StoredCredential, "kind" | "credentialSet">): void {
  if (deliveryPolicyOf(provider, credential.kind) === "runtime_env") return;
  throw new DeliveryRefusedError(
    `${credential.credentialSet}:${provider.name} (${credential.kind}) is proxy_only: its vendor allows it only in its own client, so authctl never exports it to a process; use it through the credential proxy, or store an API key instead (authctl key ${provider.name})`,
  );
}

/** The environment variable names a credential's secret is exported under (roster name first). */
export function envNamesOf(provider: Provider, kind: CredentialKind): string[] {
  const primary = modeOf(kind) === "api_key" ? provider.api_key?.env_var : (provider.delivery?.oauth_env_var ?? provider.api_key?.env_var);
  return [...new Set([primary, ...(provider.delivery?.extra_env ?? [])].filter((n): n is string => Boolean(n)))];
}
