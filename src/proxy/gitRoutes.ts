import type { ServerResponse } from "node:http";
import type { Roster } from "../roster/load.js";
import { PROXY_METHODS } from "../roster/proxySchema.js";
import { type ProxyMode, type ResolvedRoute, routeFor, type UpstreamOverride } from "./routes.js";

/**
 * git's smart-HTTP routes, the only ones the git route forwards: ref discovery (a GET naming its
 * service) and the two RPCs (POSTs). Dumb HTTP and anything else under a repository never match,
 * so they fall to the API route, which sends them to the API host, never to the git host.
 */
const SMART_HTTP = /^\/([^/?]+)\/([^/?]+?)(\.git)?\/(?:info\/refs\?service=(git-upload-pack|git-receive-pack)|(git-upload-pack|git-receive-pack))$/;

/**
 * What the session policy sees of a smart-HTTP request: a fetch (discovery and RPC) as
 * `GET /<owner>/<repo>.git/git-upload-pack`, a push as `POST /<owner>/<repo>.git/git-receive-pack`
 * from its discovery on, so `--methods GET` lets an agent clone and refuses its push before any
 * pack is sent. Undefined for anything else, or a method the route never takes.
 */
export function gitRequest(method: string, url: string): { method: string; path: string } | undefined {
  const match = SMART_HTTP.exec(url);
  if (!match) return undefined;
  const [, owner, repo, , discovered, rpc] = match;
  if ((discovered && method !== "GET") || (rpc && method !== "POST")) return undefined;
  const service = (discovered ?? rpc)!;
  return { method: service === "git-receive-pack" ? "POST" : "GET", path: `/${owner}/${repo}.git/${service}` };
}

/**
 * The provider's git route (`proxy.git` in its roster file), with overrides applied: the git host
 * behind it, and Basic auth whose user name is the roster's `git.username` and whose password is
 * the real token. Undefined when the provider declares none.
 */
export function gitRouteFor(roster: Roster, provider: string, mode: ProxyMode, overrides: Record<string, UpstreamOverride> = {}): ResolvedRoute | undefined {
  if (!roster.has(provider)) return undefined;
  const entry = roster.get(provider);
  const declared = entry.proxy?.git;
  if (!declared) return undefined;
  const merged = { ...declared, ...overrides[provider]?.git };
  // A login that expires is refreshed before a push as before an API call: the same refresh route.
  const refresh = routeFor(roster, provider, mode, overrides)?.refresh;
  return { ...merged, methods: merged.methods ?? [...PROXY_METHODS], mode, where: "proxy.git", basicUser: entry.git?.username ?? "x-access-token", ...(refresh ? { refresh } : {}) };
}

/**
 * The git config (as GIT_CONFIG_* variables, so no file holds it) that sends the container's git
 * to the proxy for the route's host, with the phantom in a header only the proxy's address gets.
 */
export function gitClientEnv(host: string, base: string, phantom: string): Record<string, string> {
  return {
    GIT_CONFIG_COUNT: "2",
    GIT_CONFIG_KEY_0: `url.${base}/.insteadOf`,
    GIT_CONFIG_VALUE_0: `https://${host}/`,
    GIT_CONFIG_KEY_1: `http.${base}/.extraHeader`,
    GIT_CONFIG_VALUE_1: `Authorization: Bearer ${phantom}`,
  };
}

/** git shows a text/plain error body to its user (as `remote: …`); a JSON one it drops. */
export function sendGitRefusal(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const text = `${message}\n`;
  res.writeHead(status, { ...headers, "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), connection: "close" });
  res.end(text);
}
