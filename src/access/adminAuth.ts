import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * Admin requests prove knowledge of the store key without sending it: they are signed with an
 * HMAC key derived from the store key (`CredentialStore.subkey`), over the daemon run's id, a
 * timestamp, a nonce, the path and the body's hash. A daemon makes a fresh random id at each start
 * and keeps the nonces it saw for that run, so a signature never works twice: not in the same run
 * (the nonce), not in the next (the id), and only for seconds (the timestamp).
 */
export const ADMIN_KEY_LABEL = "authctl:serve-admin:v1";
export const ADMIN_SCHEME = "AuthctlAdmin";
/** How old a signature may be; the client signs just before it sends, over a local socket. */
export const ADMIN_MAX_AGE_MS = 30_000;
/** How far a client's clock may run ahead of the daemon's (the same machine: a few seconds at most). */
export const ADMIN_MAX_AHEAD_MS = 5_000;
export const DAEMON_ID = /^[a-f0-9]{32}$/;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A daemon run's id: what its health answer tells clients to sign for. */
export const newDaemonId = () => randomBytes(16).toString("hex");

export function adminSignature(adminKey: Buffer, daemonId: string, timestampMs: number, nonce: string, path: string, body: string): string {
  return createHmac("sha256", adminKey).update(`${daemonId}\n${timestampMs}\n${nonce}\n${path}\n${sha256(body)}`).digest("hex");
}

/** The Authorization header for one admin request to the daemon run `daemonId` (from its health answer). */
export function adminAuthorization(adminKey: Buffer, daemonId: string, nowMs: number, path: string, body: string): string {
  const nonce = randomBytes(16).toString("hex");
  return `${ADMIN_SCHEME} ${daemonId}.${nowMs}.${nonce}.${adminSignature(adminKey, daemonId, nowMs, nonce, path, body)}`;
}
