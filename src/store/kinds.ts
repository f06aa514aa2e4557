/**
 * The row's kind column, kept for compatibility: derived from the payload's type
 * (src/credentials/), which is what says what a payload holds. A module of its own so the wire
 * protocol can name the kinds without loading the store.
 */
export const CREDENTIAL_KINDS = ["api_key", "oauth", "device_flow", "google_oauth", "command"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];
