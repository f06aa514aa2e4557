import dns from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { networkInterfaces } from "node:os";
import { AuthctlError } from "./errors.js";

/**
 * authctl refused to dial an address a name resolved to (or could not resolve it): nothing was
 * sent. The proxy answers 502 with its message; a login's refresh fails with it.
 */
export class AddressRefusedError extends AuthctlError {}

/** How a host name becomes addresses: the system resolver unless a caller (a test's DNS stub) says otherwise. */
export type ResolveHost = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolve: ResolveHost = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** Where a secret must never be sent: this host, private and shared networks, link-local (the cloud metadata service), multicast. */
const NOT_REMOTE = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) NOT_REMOTE.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) {
  NOT_REMOTE.addSubnet(network, prefix, "ipv6");
}

/** This host's own interface addresses: whatever range they are in, a service listening on them is this host's. */
const ownAddresses = () => new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase())));

/**
 * Whether an address is one authctl never dials for a named remote endpoint (an IPv4-mapped IPv6
 * address counts as its IPv4).
 */
export function forbiddenAddress(address: string, own: ReadonlySet<string> = ownAddresses()): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return forbiddenAddress(mapped, own);
  const family = isIP(address);
  if (family === 0 || own.has(address.toLowerCase())) return true;
  return NOT_REMOTE.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** An endpoint the configuration itself puts on this host or a local network (an address, `localhost`): the user's choice, as in tests. */
const localEndpoint = (hostname: string): boolean => isIP(hostname.replace(/^\[|\]$/g, "")) !== 0 || hostname === "localhost" || hostname.endsWith(".localhost");

/** Why a name was not dialled, for the caller to word with its own subject (an upstream, a token endpoint) and fix. */
export type Refusal =
  | { kind: "forbidden"; hostname: string; address: string }
  | { kind: "no_address"; hostname: string }
  | { kind: "unresolved"; hostname: string; detail: string };

/** "X resolved to A (…)": the part of a refusal every caller words the same. */
export const forbiddenText = (r: { hostname: string; address: string }) =>
  `${r.hostname} resolved to ${r.address} (loopback, private, link-local, metadata or this host's own)`;

/**
 * The `lookup` of a connection that carries a secret to a configured endpoint: the name is resolved
 * once for the connection, every address checked, and the socket connects to exactly those
 * addresses, so a name that answers differently a moment later (DNS rebinding) cannot slip another
 * address in between the check and the connect. TLS still verifies the configured name: the
 * request keeps it as its host, only the address comes from here. `refuse` words the error.
 */
export function checkedLookup(resolve: ResolveHost, refuse: (refusal: Refusal) => Error): LookupFunction {
  return (hostname, options, callback) => {
    const fail = (refusal: Refusal) => callback(refuse(refusal) as NodeJS.ErrnoException, "", 0);
    resolve(hostname).then((found) => {
      const addresses = options.family ? found.filter((a) => a.family === options.family) : found;
      if (!addresses.length) return fail({ kind: "no_address", hostname });
      const own = localEndpoint(hostname) ? undefined : ownAddresses();
      const forbidden = own && addresses.find((a) => forbiddenAddress(a.address, own));
      if (forbidden) return fail({ kind: "forbidden", hostname, address: forbidden.address });
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    }, (error: unknown) => fail({ kind: "unresolved", hostname, detail: String((error as Error)?.message ?? error).slice(0, 200) }));
  };
}

/** The refusal inside an error a library wrapped it in (openid-client, MSAL, gaxios keep it as a cause), if any. */
export function addressRefusal(error: unknown): AddressRefusedError | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof AddressRefusedError) return e;
  }
  return undefined;
}
