import { contextFrom, type Authctl, type WithContext } from "../context.js";
import { MissingCredentialsError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { StoredCredential } from "../store/store.js";
import { fromWire } from "./client.js";
import { GetResponse } from "./protocol.js";
import { sendWireSync } from "./syncWire.js";
import { decodeResponse } from "./wire.js";

export interface GetCredentialsOptions extends WithContext {
  credentialSet?: string;
}

/** The service a process inside `authctl run` (or a container session) was handed, if any. */
export function serviceGrant(context: Authctl): { socketPath: string; token: string } | undefined {
  const socketPath = context.env.AUTHCTL_SOCKET;
  const token = context.env.AUTHCTL_TOKEN;
  return socketPath && token ? { socketPath, token } : undefined;
}

/**
 * Decrypted credential for (set, provider); `MissingCredentialsError` says how to add it. With
 * `AUTHCTL_SOCKET` and `AUTHCTL_TOKEN` in the context's env it asks the local service (no store
 * key needed, only what the token grants); otherwise it reads the store.
 */
export function getCredentials<T = unknown>(provider: string, options: GetCredentialsOptions = {}): StoredCredential<T> {
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const grant = serviceGrant(context);
  if (grant) {
    const path = "/v1/get";
    const response = sendWireSync({ socketPath: grant.socketPath, path, body: JSON.stringify({ credentialSet, provider }), authorization: `Bearer ${grant.token}` });
    return fromWire<T>(decodeResponse(path, response, GetResponse, { credentialSet, provider }).credential);
  }
  const entry = context.roster().get(provider);
  const found = context.store().get<T>(credentialSet, entry.name);
  if (!found) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
  return found;
}
