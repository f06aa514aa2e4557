import type { z } from "zod";
import { HttpExchangeError, ServiceError, UntrustedServiceError } from "../core/errors.js";
import { DEFAULT_SET } from "../core/names.js";
import type { PeerCredentials } from "../core/peerCredentials.js";
import type { StoredCredential } from "../store/store.js";
import { adminAuthorization } from "./adminAuth.js";
import * as P from "./protocol.js";
import { decodeResponse, httpOptions, verifiedConnection, WIRE_LIMITS, type WireRequest, type WireResponse } from "./wire.js";

// The service's client sits in access with its protocol (see protocol.ts): getCredentials, run and the
// library's ServiceClient reach the daemon through it, and none of them may import serve, above them.

export interface SendWireOptions {
  signal?: AbortSignal;
  /** Who serves the socket (SO_PEERCRED), verified before anything is sent; undefined where it cannot be read. */
  onPeer?: (peer: PeerCredentials | undefined) => void;
}

export async function sendWire(request: WireRequest, options: SendWireOptions = {}): Promise<WireResponse> {
  const { body, ...http } = httpOptions(request);
  // node:http (with https and tls) loads only when a service is really called: most commands find none running.
  const { httpCall } = await import("../core/http.js");
  try {
    const reply = await httpCall({ ...http, ...(body === undefined ? {} : { body }), ...WIRE_LIMITS, signal: options.signal, createConnection: verifiedConnection(request.socketPath, options.onPeer) });
    return { status: reply.status, body: reply.body };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.name === "AbortError" || e instanceof UntrustedServiceError) throw e;
    if (e instanceof HttpExchangeError) throw new ServiceError(`the authctl service at ${request.socketPath}: ${e.message}; restart it with \`authctl serve stop\` and \`authctl serve\``);
    throw new ServiceError(`cannot reach the authctl service at ${request.socketPath} (${e.code ?? e.message}): start it with \`authctl serve\``);
  }
}

export interface ServiceClientOptions {
  socketPath: string;
  /** A capability token (AUTHCTL_TOKEN). */
  token?: string;
  /** The admin key derived from the store key (`store.subkey(ADMIN_KEY_LABEL)`), for admin operations. */
  adminKey?: Buffer;
  now?: () => number;
}

/**
 * The local credential service, from any process: a token for reads, the admin key for the rest.
 * Every request goes only to a daemon in a directory private to the user, run by the user or root.
 */
export class ServiceClient {
  /** Who served the last request (pid, uid); undefined where peer credentials cannot be read. */
  peer: PeerCredentials | undefined;

  constructor(private readonly options: ServiceClientOptions) {}

  private async call<T>(path: string, body: unknown, schema: z.ZodType<T>, ref?: { credentialSet: string; provider: string }): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const { adminKey, token, socketPath } = this.options;
    // Signed for the daemon run that answers health now: the signature is useless to any other run.
    const authorization = adminKey && path !== "/v1/health"
      ? adminAuthorization(adminKey, (await this.health()).daemonId, (this.options.now ?? Date.now)(), path, text ?? "")
      : token
        ? `Bearer ${token}`
        : undefined;
    const response = await sendWire({ socketPath, path, body: text, authorization }, { onPeer: (peer) => (this.peer = peer) });
    return decodeResponse(path, response, schema, ref);
  }

  health() {
    return this.call("/v1/health", undefined, P.HealthResponse);
  }
  /** Every credential the caller may see (one set's with `credentialSet`), metadata only. */
  list(options?: { credentialSet?: string }): Promise<z.infer<typeof P.ListResponse>["credentials"]>;
  /** @deprecated the set goes in the options: `list({ credentialSet })`. */
  list(credentialSet?: string): Promise<z.infer<typeof P.ListResponse>["credentials"]>;
  async list(options?: string | { credentialSet?: string }) {
    const credentialSet = typeof options === "string" ? options : options?.credentialSet;
    return (await this.call("/v1/list", credentialSet ? { credentialSet } : {}, P.ListResponse)).credentials;
  }
  head(provider: string, options?: { credentialSet?: string }): Promise<z.infer<typeof P.HeadResponse>["credential"]>;
  /** @deprecated provider first: `head(provider, { credentialSet })`. */
  head(credentialSet: string, provider: string): Promise<z.infer<typeof P.HeadResponse>["credential"]>;
  async head(first: string, second?: string | { credentialSet?: string }) {
    const ref = credentialRef(first, second);
    return (await this.call("/v1/head", ref, P.HeadResponse, ref)).credential;
  }
  get<T = unknown>(provider: string, options?: { credentialSet?: string }): Promise<StoredCredential<T>>;
  /** @deprecated provider first: `get(provider, { credentialSet })`. */
  get<T = unknown>(credentialSet: string, provider: string): Promise<StoredCredential<T>>;
  async get<T = unknown>(first: string, second?: string | { credentialSet?: string }): Promise<StoredCredential<T>> {
    const ref = credentialRef(first, second);
    const { credential } = await this.call("/v1/get", ref, P.GetResponse, ref);
    return fromWire<T>(credential);
  }
  async put(entry: z.input<typeof P.PutRequest>) {
    await this.call("/v1/put", entry, P.OkResponse);
  }
  delete(provider: string, options?: { credentialSet?: string }): Promise<void>;
  /** @deprecated provider first: `delete(provider, { credentialSet })`. */
  delete(credentialSet: string, provider: string): Promise<void>;
  async delete(first: string, second?: string | { credentialSet?: string }): Promise<void> {
    await this.call("/v1/delete", credentialRef(first, second), P.OkResponse);
  }
  mint(scope: P.Scope) {
    return this.call("/v1/tokens/mint", { scope }, P.MintResponse);
  }
  async revoke(id: string) {
    await this.call("/v1/tokens/revoke", { id }, P.OkResponse);
  }
  async shutdown() {
    await this.call("/v1/shutdown", {}, P.OkResponse);
  }
}

/** (provider, { credentialSet }) or the deprecated (credentialSet, provider). */
function credentialRef(first: string, second: string | { credentialSet?: string } | undefined): { credentialSet: string; provider: string } {
  if (typeof second === "string") return { credentialSet: first, provider: second };
  return { credentialSet: second?.credentialSet ?? DEFAULT_SET, provider: first };
}

export function fromWire<T>(credential: z.infer<typeof P.GetResponse>["credential"]): StoredCredential<T> {
  return {
    credentialSet: credential.credentialSet,
    provider: credential.provider,
    kind: credential.kind,
    preview: credential.preview,
    expiresAt: credential.expiresAt === null ? null : new Date(credential.expiresAt),
    createdAt: new Date(credential.createdAt ?? credential.updatedAt),
    updatedAt: new Date(credential.updatedAt),
    payload: credential.payload as T,
  };
}
