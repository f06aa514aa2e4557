import type { Roster } from "../roster/load.js";
import type { Provider } from "../roster/schema.js";

/** Hosts of this machine: plain http to them never crosses a network, so a test server or a local mirror may use it. */
const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/;

/** Whether a token may be sent to this origin: over https, or over http to this machine only. */
export function mayCarryToken(protocol: string | undefined, host: string): boolean {
  return protocol === "https" || (protocol === "http" && LOOPBACK.test(host));
}

export interface GitHostOptions {
  /** The provider to answer with (`--provider`), for its roster hosts and `host`. */
  provider?: string;
  /** One more host the provider answers, as `setup-git --host` wrote it into that host's helper entry. */
  host?: string;
}

/**
 * The provider whose credential answers git for a request's protocol and host: the one named, else
 * the roster entry whose `git.hosts` lists the host. Undefined when none does, or when the token
 * would travel in the clear: git then asks its next helper. A named provider still answers only
 * its own hosts and the one given, so a helper configured for every URL sends no token elsewhere.
 */
export function gitProviderFor(roster: Roster, request: ReadonlyMap<string, string>, options: GitHostOptions = {}): Provider | undefined {
  const host = request.get("host")?.toLowerCase();
  if (!host || !mayCarryToken(request.get("protocol"), host)) return undefined;
  const listed = (p: Provider) => p.git?.hosts.includes(host) === true;
  if (options.provider !== undefined) {
    const named = roster.get(options.provider);
    return listed(named) || options.host?.toLowerCase() === host ? named : undefined;
  }
  return roster.list().find(listed);
}

/** The user name git sends with a provider's token when the request names none. */
export const gitUsernameOf = (provider: Provider): string => provider.git?.username ?? "x-access-token";
