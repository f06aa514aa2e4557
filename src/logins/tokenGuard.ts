import type { LookupFunction } from "node:net";
import type { Authctl } from "../context.js";
import { AddressRefusedError, checkedLookup, forbiddenText, systemResolve } from "../core/netGuard.js";
import type { Provider } from "../roster/schema.js";

/** The roster's endpoint fields of a host flow, as `[field, url]`: which one a refused name came from. */
function endpointFields(entry: Provider): Array<[string, string]> {
  const flow = entry.host_flow;
  if (!flow) return [];
  if (flow.flow === "msal_device_code") {
    const metadata = Object.entries((flow.authority_metadata ?? {}) as Record<string, unknown>);
    const urls = metadata.filter((e): e is [string, string] => e[0].endsWith("_endpoint") && typeof e[1] === "string").map(([k, v]): [string, string] => [`host_flow.authority_metadata.${k}`, v]);
    return [...urls, ["host_flow.authority_host", `https://${flow.authority_host}`]];
  }
  return Object.entries(flow)
    .filter((e): e is [string, string] => e[0].endsWith("_endpoint") && typeof e[1] === "string")
    .map(([k, v]) => [`host_flow.${k}`, v]);
}

const hostOf = (url: string) => {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  } catch {
    return undefined;
  }
};

/**
 * The `lookup` of every connection a host login makes to its identity provider (token endpoint,
 * device authorization, MSAL's authority): those requests carry the refresh token, a code or the
 * client secret, so a roster entry or a DNS answer that leads one to a loopback, private,
 * link-local or metadata address is refused after resolution, as the proxy refuses an upstream,
 * and the address checked is the one dialled. An endpoint the roster gives as an address or
 * `localhost` is the user's own choice and stays allowed.
 */
export function identityLookup(context: Authctl, entry: Provider): LookupFunction {
  const fields = endpointFields(entry);
  return checkedLookup(context.resolveHost ?? systemResolve, (refusal) => {
    // A name that does not resolve is the network's failure, reported as any unreachable endpoint is.
    if (refusal.kind !== "forbidden") return Object.assign(new Error(`${refusal.hostname} did not resolve`), { code: "ENOTFOUND" });
    const named = fields.filter(([, url]) => hostOf(url) === refusal.hostname.toLowerCase()).map(([field]) => field);
    const primary = named.find((f) => f.endsWith(".token_endpoint")) ?? named[0];
    const field = !primary ? "host_flow" : named.length > 1 ? `${primary} (and the other endpoints on ${refusal.hostname})` : primary;
    return new AddressRefusedError(
      `${entry.name}: the identity endpoint ${forbiddenText(refusal)}; refused, nothing was sent: for an endpoint on this host or a local network, give its address (or localhost) in ${field} of ${context.paths.userRoster}/${entry.name}.yaml; otherwise check what the name resolves to`,
    );
  });
}
