import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { Roster } from "../roster/load.js";
import type { ProxyOAuthRoute, ProxyRoute } from "../roster/proxySchema.js";
import type { CredentialKind } from "../store/store.js";

export type ProxyMode = "api_key" | "oauth";

/** Replaces parts of a provider's roster `proxy:` block (tests point every URL at local fakes). */
export interface UpstreamOverride {
  api_key?: Partial<ProxyRoute>;
  oauth?: Partial<ProxyOAuthRoute>;
}

export interface ResolvedRoute extends ProxyRoute {
  mode: ProxyMode;
  refresh?: ProxyOAuthRoute["refresh"];
}

export function modeOf(kind: CredentialKind): ProxyMode | undefined {
  if (kind === "api_key") return "api_key";
  if (kind === "oauth") return "oauth";
  return undefined;
}

/** The provider's route for a credential mode, with overrides applied; undefined when it has none. */
export function routeFor(roster: Roster, provider: string, mode: ProxyMode, overrides: Record<string, UpstreamOverride> = {}): ResolvedRoute | undefined {
  if (!roster.has(provider)) return undefined;
  const declared = roster.get(provider).proxy?.[mode];
  const override = overrides[provider]?.[mode];
  if (!declared && !override?.base_url) return undefined;
  const merged = { header: "authorization", allow_paths: ["/"], ...declared, ...override } as ProxyRoute & { refresh?: ProxyOAuthRoute["refresh"] };
  if (mode === "oauth" && (declared as ProxyOAuthRoute | undefined)?.refresh && (override as ProxyOAuthRoute | undefined)?.refresh) {
    merged.refresh = { ...(declared as ProxyOAuthRoute).refresh!, ...(override as ProxyOAuthRoute).refresh! };
  }
  return { ...merged, mode };
}

/**
 * Whether a request path may be forwarded: it must start with an allowed prefix after the query
 * is cut off, and hold nothing a server might normalise into another path (`..`, `//`, `%2e`,
 * `%2f`, a backslash). Refusing such paths is cheaper than proving them harmless.
 */
export function pathAllowed(rawUrl: string, allow: readonly string[]): boolean {
  if (!rawUrl.startsWith("/") || rawUrl.startsWith("//")) return false;
  const path = rawUrl.split("?")[0]!;
  if (/(^|\/)\.\.?(\/|$)|\/\/|\\|%2e|%2f|%5c|%00/i.test(path)) return false;
  return allow.some((prefix) => path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`) || prefix === "/");
}

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
  "te", "trailer", "transfer-encoding", "upgrade", "host",
]);

/** Where a client may present its phantom; all are stripped before the real credential is set. */
export const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "x-goog-api-key"] as const;

export function phantomFrom(headers: IncomingHttpHeaders): string | undefined {
  // gh sends `token <t>`, everyone else `Bearer <t>`.
  const scheme = headers.authorization?.match(/^(?:bearer|token) +(\S+)\s*$/i);
  if (scheme) return scheme[1];
  for (const name of ["x-api-key", "x-goog-api-key"] as const) {
    const value = headers[name];
    if (typeof value === "string" && value) return value.trim();
  }
  return undefined;
}

/** Copies end-to-end headers; `keepUpgrade` keeps the WebSocket handshake's Connection/Upgrade pair. */
export function forwardableHeaders(headers: IncomingHttpHeaders, options: { keepUpgrade?: boolean; dropCredentials?: boolean } = {}): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || (listed.has(name) && name !== "upgrade")) continue;
    if (options.dropCredentials && (CREDENTIAL_HEADERS as readonly string[]).includes(name)) continue;
    out[name] = value;
  }
  if (options.keepUpgrade && headers.upgrade) {
    out.connection = "Upgrade";
    out.upgrade = headers.upgrade;
  }
  return out;
}

export function credentialHeader(route: ProxyRoute, secret: string): [string, string] {
  return route.header === "authorization" ? ["authorization", `Bearer ${secret}`] : [route.header, secret];
}
