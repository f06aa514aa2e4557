import { contextFrom } from "../context.js";
import { ProviderArgument, SetOptions, validateArguments } from "../core/arguments.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import type { StoredCredential } from "../store/store.js";
import { fromWire } from "./client.js";
import { GetResponse } from "./protocol.js";
import { serviceGrant, storedCredentials, type GetCredentialsOptions } from "./storedCredential.js";
import { sendWireSync } from "./syncWire.js";
import { decodeResponse } from "./wire.js";

export { readCredential, readCredentialAsync, serviceGrant, type GetCredentialsOptions } from "./storedCredential.js";

/**
 * Decrypted credential for (set, provider); `MissingCredentialsError` says how to add it. With
 * `AUTHCTL_SOCKET` and `AUTHCTL_TOKEN` in the context's env it asks the local service (no store
 * key needed, only what the token grants); otherwise it reads the store.
 */
export function getCredentials<T = unknown>(provider: string, options: GetCredentialsOptions = {}): StoredCredential<T> {
  validateArguments("getCredentials", { provider: [ProviderArgument, provider], options: [SetOptions, options] });
  const context = contextFrom(options);
  const grant = serviceGrant(context);
  if (!grant) return storedCredentials<T>(provider, options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const path = "/v1/get";
  const response = sendWireSync({ socketPath: grant.socketPath, path, body: JSON.stringify({ credentialSet, provider }), authorization: `Bearer ${grant.token}` });
  return fromWire<T>(decodeResponse(path, response, GetResponse, { credentialSet, provider }).credential);
}
