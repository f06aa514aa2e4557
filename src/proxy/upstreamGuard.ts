import type { LookupFunction } from "node:net";
import { AddressRefusedError, checkedLookup, forbiddenText, systemResolve, type ResolveHost } from "../core/netGuard.js";

/** The proxy refused to dial an upstream address; the request gets a 502 with this message, never forwarded. */
export class UpstreamRefusedError extends AddressRefusedError {}

/** How an upstream name becomes addresses: the system resolver unless a caller (a test's DNS stub) says otherwise. */
export type ResolveUpstream = ResolveHost;

/**
 * The `lookup` of every upstream connection (see `checkedLookup`: resolved once, every address
 * checked, no rebinding between check and connect; an upstream the roster gives as an address or
 * `localhost` is the user's choice, as in tests). `field` is the roster field a refusal tells
 * the user to change (the route's `base_url`, its `refresh.token_url`).
 */
export function guardedLookup(resolve: ResolveUpstream = systemResolve, field = "base_url"): LookupFunction {
  return checkedLookup(resolve, (refusal) => {
    if (refusal.kind === "no_address") return new UpstreamRefusedError(`authctl proxy: the upstream ${refusal.hostname} resolved to no address`);
    if (refusal.kind === "unresolved") return new UpstreamRefusedError(`authctl proxy: could not resolve the upstream ${refusal.hostname} (${refusal.detail})`);
    return new UpstreamRefusedError(`authctl proxy: the upstream ${forbiddenText(refusal)}, refused: for a local endpoint, give its address in the roster's ${field}`);
  });
}
