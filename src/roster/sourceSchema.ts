import * as z from "zod";

/** Longest a secret command may run before authctl kills it: a prompt for a PIN must not hang a run. */
export const MAX_SOURCE_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * A secret fetched on demand by a command (`vault kv get -field=key secret/x`, `op read …`,
 * `bw get …`) instead of stored: run without a shell, its trimmed stdout is the secret.
 */
export const SourceSchema = z.strictObject({
  command: z.array(z.string().min(1)).min(1, "must be a non-empty argv list, e.g. [vault, kv, get, -field=key, secret/x]"),
  timeout_ms: z.number().int().positive().max(MAX_SOURCE_TIMEOUT_MS).default(10_000),
  /** Only `false` for now: the output is never written to disk. */
  cache: z.literal(false, { error: "only false is supported: a command's output is never cached" }).default(false),
});

export type SecretSource = z.infer<typeof SourceSchema>;
