import dns from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { networkInterfaces } from "node:os";
import { AuthctlError } from "../core/errors.js";

/** The proxy refused to dial an upstream address; the request gets a 502 with this message, never forwarded. */
export class UpstreamRefusedError extends AuthctlError {}

/** How an upstream name becomes addresses: the system resolver unless a caller (a test's DNS stub) says otherwise. */
export type ResolveUpstream = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolve: ResolveUpstream = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** Where a phantom must never lead: this host, private and shared networks, link-local (the cloud metadata service), multicast. */
const NOT_UPSTREAM = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NOT_UPSTREAM.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) {
  NOT_UPSTREAM.addSubnet(network, prefix, "ipv6");
}

/** This host's own interface addresses: whatever range they are in, a service listening on them is this host's. */
const ownAddresses = () => new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase())));

/**
 * Whether an address is one the proxy never dials for a named upstream (an IPv4-mapped IPv6
 * address counts as its IPv4).
 */
export function forbiddenAddress(address: string, own: ReadonlySet<string> = ownAddresses()): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return forbiddenAddress(mapped, own);
  const family = isIP(address);
  if (family === 0 || own.has(address.toLowerCase())) return true;
  return NOT_UPSTREAM.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** An upstream the roster itself puts on this host or a local network (an address, `localhost`): the user's choice, as in tests. */
export const localUpstream = (hostname: string): boolean => isIP(hostname.replace(/^\[|\]$/g, "")) !== 0 || hostname === "localhost" || hostname.endsWith(".localhost");

/**
 * The `lookup` of every upstream connection: the configured name is resolved once for the
 * connection, every address checked, and the socket connects to exactly those addresses, so a
 * name that answers differently a moment later (DNS rebinding) cannot slip another address in
 * between the check and the connect. TLS still verifies the configured name: the request keeps it
 * as its host, only the address comes from here. `field` is the roster field a refusal tells the
 * user to change (the route's `base_url`, its `refresh.token_url`).
 */
export function guardedLookup(resolve: ResolveUpstream = systemResolve, field = "base_url"): LookupFunction {
  return (hostname, options, callback) => {
    const fail = (error: Error) => callback(error as NodeJS.ErrnoException, "", 0);
    resolve(hostname).then((found) => {
      const addresses = options.family ? found.filter((a) => a.family === options.family) : found;
      if (!addresses.length) return fail(new UpstreamRefusedError(`authctl proxy: the upstream ${hostname} resolved to no address`));
      const own = localUpstream(hostname) ? undefined : ownAddresses();
      const forbidden = own && addresses.find((a) => forbiddenAddress(a.address, own));
      if (forbidden) {
        const why = `the upstream ${hostname} resolved to ${forbidden.address} (loopback, private, link-local, metadata or this host's own)`;
        return fail(new UpstreamRefusedError(`authctl proxy: ${why}, refused: for a local endpoint, give its address in the roster's ${field}`));
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    }, (error: unknown) => fail(new UpstreamRefusedError(`authctl proxy: could not resolve the upstream ${hostname} (${String((error as Error)?.message ?? error).slice(0, 200)})`)));
  };
}
