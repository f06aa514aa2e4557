import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * Admin requests prove knowledge of the store key without sending it: they are signed with an
 * HMAC key derived from the store key (`CredentialStore.subkey`), over a timestamp, a nonce, the
 * path and the body's hash. The server rejects old timestamps and replayed nonces.
 */
export const ADMIN_KEY_LABEL = "authctl:serve-admin:v1";
export const ADMIN_SCHEME = "AuthctlAdmin";
export const ADMIN_MAX_SKEW_MS = 60_000;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export function adminSignature(adminKey: Buffer, timestampMs: number, nonce: string, path: string, body: string): string {
  return createHmac("sha256", adminKey).update(`${timestampMs}\n${nonce}\n${path}\n${sha256(body)}`).digest("hex");
}

export function adminAuthorization(adminKey: Buffer, nowMs: number, path: string, body: string): string {
  const nonce = randomBytes(16).toString("hex");
  return `${ADMIN_SCHEME} ${nowMs}.${nonce}.${adminSignature(adminKey, nowMs, nonce, path, body)}`;
}
