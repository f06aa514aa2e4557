import * as z from "zod";
import { lazy } from "../core/lazy.js";

/** Longest a secret command may run before authctl kills it: a prompt for a PIN must not hang a run. */
export const MAX_SOURCE_TIMEOUT_MS = 10 * 60 * 1000;

/** How long a cached output may be reused at most: a rotated secret is picked up within a day. */
export const MAX_CACHE_TTL_S = 24 * 60 * 60;
export const DEFAULT_CACHE_TTL_S = 60 * 60;

export const CacheTtlSchema = lazy(() => z.number().int().positive().max(MAX_CACHE_TTL_S, `must be at most ${MAX_CACHE_TTL_S} seconds (a day)`));

/**
 * A secret fetched on demand by a command (`vault kv get -field=key secret/x`, `op read …`,
 * `bw get …`) instead of stored: run without a shell, its trimmed stdout is the secret. Never
 * cached unless `cache: true`; then its output is kept sealed in the store for `cache_ttl_s`.
 */
export const SourceSchema = lazy(() => z
  .strictObject({
    command: z.array(z.string().min(1)).min(1, "must be a non-empty argv list, e.g. [vault, kv, get, -field=key, secret/x]"),
    timeout_ms: z.number().int().positive().max(MAX_SOURCE_TIMEOUT_MS).default(10_000),
    cache: z.boolean().default(false),
    cache_ttl_s: CacheTtlSchema.optional(),
  })
  .refine((source) => source.cache || source.cache_ttl_s === undefined, {
    path: ["cache_ttl_s"],
    message: "only applies with cache: true (the output is not cached otherwise); add cache: true or remove it",
  })
  .transform(({ cache_ttl_s, ...source }) => ({ ...source, ...(source.cache ? { cache_ttl_s: cache_ttl_s ?? DEFAULT_CACHE_TTL_S } : {}) })));

export type SecretSource = z.infer<typeof SourceSchema>;
