import type { Authctl } from "../context.js";
import type { StoredCredential } from "../store/store.js";
import { maskSecret } from "../core/mask.js";
import { recordCredential, type CredentialSummary } from "../credentials/index.js";
import { runSecretCommand, runSecretCommandAsync, type CommandSecretPayload, type CommandSourcePayload, type CommandSourceSpec } from "./commandSource.js";

const sameArgv = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((arg, i) => arg === b[i]);

/**
 * The output cached in `row` if the source asks to cache and it may still be used: same argv (a
 * changed roster command invalidates it), not expired, and within the current TTL (a shortened
 * TTL, or a clock set back, does not stretch it).
 */
export function freshCachedKey(now: number, spec: CommandSourceSpec, row: StoredCredential<CommandSourcePayload> | undefined): string | undefined {
  const cached = row?.payload.cached;
  if (spec.cache_ttl_s === undefined || !cached || !sameArgv(row.payload.command, spec.command)) return undefined;
  const left = cached.until - now;
  return left > 0 && left <= spec.cache_ttl_s * 1000 ? cached.key : undefined;
}

/**
 * Keeps a command's fresh output in the (sealed) `command` row when the source asks to cache, and
 * logs the fill (`refreshed`, or `stored` for `key --command --cache`) and sums it up. Undefined when it did not
 * cache: not asked, or a store opened read-only.
 */
export function keepCached(context: Authctl, credentialSet: string, provider: string, spec: CommandSourceSpec, key: string, op: "stored" | "refreshed" = "refreshed"): CredentialSummary | undefined {
  if (spec.cache_ttl_s === undefined || context.store().readOnlyReason) return undefined;
  const until = context.clock.now() + spec.cache_ttl_s * 1000;
  const payload: CommandSourcePayload = {
    type: "command",
    command: [...spec.command],
    timeout_ms: spec.timeout_ms,
    cache_ttl_s: spec.cache_ttl_s,
    ...(spec.origin ? { origin: spec.origin } : {}),
    cached: { key, until },
  };
  return recordCredential(context, { credentialSet, provider, payload, op });
}

/**
 * The credential a command source stands for: its cached output while fresh (only when the source
 * asks to cache), else the command run now — and its output cached when asked. A failing command
 * is an error, never an expired output.
 */
export function commandCredential(context: Authctl, credentialSet: string, provider: string, spec: CommandSourceSpec, row?: StoredCredential<CommandSourcePayload>): StoredCredential<CommandSecretPayload> {
  let key = freshCachedKey(context.clock.now(), spec, row);
  if (key === undefined) {
    key = runSecretCommand(context, provider, spec);
    keepCached(context, credentialSet, provider, spec, key);
  }
  return resolvedCredential(context, credentialSet, provider, spec, key, row);
}

/** `commandCredential` with the command run without blocking the event loop. */
export async function commandCredentialAsync(context: Authctl, credentialSet: string, provider: string, spec: CommandSourceSpec, row?: StoredCredential<CommandSourcePayload>): Promise<StoredCredential<CommandSecretPayload>> {
  let key = freshCachedKey(context.clock.now(), spec, row);
  if (key === undefined) {
    key = await runSecretCommandAsync(context, provider, spec);
    keepCached(context, credentialSet, provider, spec, key);
  }
  return resolvedCredential(context, credentialSet, provider, spec, key, row);
}

function resolvedCredential(context: Authctl, credentialSet: string, provider: string, spec: CommandSourceSpec, key: string, row: StoredCredential<CommandSourcePayload> | undefined): StoredCredential<CommandSecretPayload> {
  const now = new Date(context.clock.now());
  return {
    credentialSet,
    provider,
    kind: "command",
    preview: maskSecret(key),
    expiresAt: null,
    createdAt: row?.createdAt ?? now,
    updatedAt: row?.updatedAt ?? now,
    payload: { type: "command", command: [...spec.command], timeout_ms: spec.timeout_ms, key },
  };
}
