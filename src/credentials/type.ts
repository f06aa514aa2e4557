import type * as z from "zod";
import type { CredentialKind } from "../store/store.js";
import type { Check } from "./shape.js";

/**
 * What one type of stored payload is and how it behaves: the only code that knows its fields.
 * `kind` is the store's legacy column, derived from the payload; `mode` picks the roster's
 * delivery policy, env var and proxy route (`api_key` or `oauth`).
 */
export interface CredentialType<P extends { type: string } = { type: string }> {
  readonly type: P["type"];
  readonly mode: "api_key" | "oauth";
  /** Checks a payload being written (built on first use: a command that only reads never builds it). */
  readonly schema: () => z.ZodType<P>;
  /** The schema's rules for a payload read back from the store, checked without zod (./shape.ts). */
  readonly shape: Check;
  /** What the schema fills in when a field is absent, filled in on read alike. */
  readonly defaults?: Partial<P>;
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

/** A schema built the first time a payload is written, not when its module loads. */
export function lazySchema<S>(build: () => S): () => S {
  let built: S | undefined;
  return () => (built ??= build());
}
