import type * as z from "zod";
import type { CredentialKind } from "../store/store.js";

/**
 * What one type of stored payload is and how it behaves: the only code that knows its fields.
 * `kind` is the store's legacy column, derived from the payload; `mode` picks the roster's
 * delivery policy, env var and proxy route (`api_key` or `oauth`).
 */
export interface CredentialType<P extends { type: string } = { type: string }> {
  readonly type: P["type"];
  readonly mode: "api_key" | "oauth";
  readonly schema: z.ZodType<P>;
  kind(payload: P): CredentialKind;
  /** The one value a process or upstream is given; undefined when the payload holds none now (a command not yet run). */
  secret(payload: P): string | undefined;
  /** When the stored secret stops working by itself; null when never, or when the login refreshes. */
  expiresAt(payload: P): Date | null;
  /** What listings show: a masked secret, or what a command source runs. */
  preview(payload: P): string;
  /** Where it has one: the refresh token that renews the secret. */
  refreshToken?(payload: P): string | undefined;
}
