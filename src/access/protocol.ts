import * as z from "zod";
import { lazy } from "../core/lazy.js";
import { assertProviderName, assertSetName } from "../core/names.js";
import { DAEMON_ID } from "./adminAuth.js";
import { CREDENTIAL_KINDS } from "../store/kinds.js";

/**
 * The local credential service's wire format: JSON over HTTP on a Unix socket, every request and
 * response checked against these schemas on both sides. Paths are `/v1/<op>`; everything but
 * health is a POST with a JSON body.
 *
 * It lives in access, not beside the server in serve: `getCredentials` and `run` (access and run)
 * ask a running service through it, and serve sits above access, so from serve they could not
 * import it. The server imports it from here.
 */
export const PROTOCOL_VERSION = 1;

const validName = (check: (s: string) => string) => (s: string) => {
  try {
    check(s);
    return true;
  } catch {
    return false;
  }
};
export const SetName = lazy(() => z.string().refine(validName(assertSetName), "must be a credential set name"));
export const ProviderName = lazy(() => z.string().refine(validName(assertProviderName), "must be a provider name"));

/** What a capability token may do. `mint` lets it mint narrower tokens; put/delete are admin-only. */
export const TokenOp = lazy(() => z.enum(["list", "head", "get", "mint"]));
export type TokenOp = z.infer<typeof TokenOp>;

export const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

export const Scope = lazy(() => z.strictObject({
  credentialSet: SetName,
  providers: z.array(ProviderName).min(1).max(256),
  ops: z.array(TokenOp).min(1),
  ttlSeconds: z.number().int().positive().max(MAX_TOKEN_TTL_SECONDS),
}));
export type Scope = z.infer<typeof Scope>;

export const ListRequest = lazy(() => z.strictObject({ credentialSet: SetName.optional() }));
export const RefRequest = lazy(() => z.strictObject({ credentialSet: SetName, provider: ProviderName }));
export const PutRequest = lazy(() => z.strictObject({
  credentialSet: SetName,
  provider: ProviderName,
  kind: z.enum(CREDENTIAL_KINDS),
  payload: z.record(z.string(), z.unknown()),
  preview: z.string().max(64),
  expiresAt: z.number().int().nullable().default(null),
}));
export const MintRequest = lazy(() => z.strictObject({ scope: Scope }));
export const RevokeRequest = lazy(() => z.strictObject({ id: z.string().regex(/^[a-f0-9]{16}$/) }));
export const EmptyRequest = lazy(() => z.strictObject({}));

export const CredentialInfo = lazy(() => z.strictObject({
  credentialSet: z.string(),
  provider: z.string(),
  kind: z.enum(CREDENTIAL_KINDS),
  preview: z.string(),
  expiresAt: z.number().nullable(),
  /** Absent from a daemon older than the field: read as `updatedAt`. */
  createdAt: z.number().optional(),
  updatedAt: z.number(),
}));
export type CredentialInfoWire = z.infer<typeof CredentialInfo>;

/** Where the daemon's credential proxy listens (its Unix socket, and a 127.0.0.1 URL when asked for one). */
export const ProxyAddress = lazy(() => z.strictObject({ socket: z.string(), url: z.string().optional(), tlsUrl: z.string().optional(), caFile: z.string().optional() }));
export type ProxyAddress = z.infer<typeof ProxyAddress>;
/** `daemonId`: this daemon run's random id, which admin requests are signed for (new at every start). */
export const HealthResponse = lazy(() => z.strictObject({
  ok: z.literal(true),
  protocol: z.number(),
  pid: z.number(),
  home: z.string(),
  daemonId: z.string().regex(DAEMON_ID, "must be a daemon id (32 hex digits)"),
  proxy: ProxyAddress.optional(),
}));
export const ListResponse = lazy(() => z.strictObject({ credentials: z.array(CredentialInfo) }));
export const HeadResponse = lazy(() => z.strictObject({ credential: CredentialInfo }));
export const GetResponse = lazy(() => z.strictObject({ credential: CredentialInfo.extend({ payload: z.unknown() }) }));
export const OkResponse = lazy(() => z.strictObject({ ok: z.literal(true) }));
export const MintResponse = lazy(() => z.strictObject({ id: z.string(), token: z.string(), expiresAt: z.number() }));

export const ErrorCode = lazy(() => z.enum(["bad_request", "unauthorized", "forbidden", "refused", "not_found", "internal"]));
export const ErrorResponse = lazy(() => z.strictObject({
  error: z.strictObject({ code: ErrorCode, message: z.string(), fixCommand: z.string().optional() }),
}));
export type ErrorResponse = z.infer<typeof ErrorResponse>;
