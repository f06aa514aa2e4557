import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { Roster } from "../roster/load.js";
import { PROXY_METHODS, type ProxyMethod, type ProxyOAuthRoute, type ProxyRoute } from "../roster/proxySchema.js";
import type { CredentialKind } from "../store/store.js";

export type ProxyMode = "api_key" | "oauth";

/** Replaces parts of a provider's roster `proxy:` block (tests point every URL at local fakes). */
export interface UpstreamOverride {
  api_key?: Partial<ProxyRoute>;
  oauth?: Partial<ProxyOAuthRoute>;
  git?: Partial<ProxyRoute>;
}

export interface ResolvedRoute extends ProxyRoute {
  mode: ProxyMode;
  methods: ProxyMethod[];
  refresh?: ProxyOAuthRoute["refresh"];
  /** Where its rules are named in refusals (`proxy.git`); default `proxy.<mode>`. */
  where?: string;
  /** Set on a git route: the credential goes as Basic auth, this user name and the secret as password. */
  basicUser?: string;
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
  return { ...merged, methods: merged.methods ?? [...PROXY_METHODS], mode };
}

/** What a request path may hold as written: RFC 3986 path characters minus `;` (path parameters), `%` only in escapes. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$/;
const ESCAPE = /%[0-9A-Fa-f]{2}/;
/** Escapes decoded again after this many rounds are refused: no client encodes a path that often. */
const MAX_DECODE_ROUNDS = 3;
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** What an escape must never stand for: path syntax a server acts on (`.` `/` `\` `;`) and controls. */
const forbiddenByte = (b: number) => b < 0x20 || b === 0x7f || b === 0x2e || b === 0x2f || b === 0x5c || b === 0x3b;

/** Decodes every run of escapes; undefined when one is not UTF-8 (overlong forms included) or stands for a forbidden byte. */
function decodeEscapes(text: string): string | undefined {
  let refused = false;
  const decoded = text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ""), "hex");
    if (bytes.some(forbiddenByte)) refused = true;
    else {
      try {
        return utf8.decode(bytes);
      } catch {
        refused = true;
      }
    }
    return "";
  });
  return refused ? undefined : decoded;
}

/**
 * Whether a request path may be forwarded: it must start with an allowed prefix after the query
 * is cut off, and hold nothing a server might normalise into another path: dot segments (also
 * with whitespace, `..;`, or written as escapes, double escapes, `%u`, overlong UTF-8 or Unicode
 * look-alikes), `//`, a backslash, `;`, controls. Refusing such paths is cheaper than proving them
 * harmless, and no API a phantom reaches needs them.
 */
export function pathAllowed(rawUrl: string, allow: readonly string[]): boolean {
  if (!rawUrl.startsWith("/") || rawUrl.startsWith("//")) return false;
  const path = rawUrl.split("?")[0]!;
  if (!PATH_CHARS.test(path) || /%(?![0-9A-Fa-f]{2})/.test(path)) return false;
  let decoded = decodeEscapes(path);
  for (let round = 1; decoded !== undefined && ESCAPE.test(decoded); round++) {
    if (round > MAX_DECODE_ROUNDS) return false;
    decoded = decodeEscapes(decoded);
  }
  if (decoded === undefined) return false;
  const segments = path.split("/").length;
  for (const form of [decoded, decoded.normalize("NFKC")]) {
    if (/[\\;\u0000-\u001f\u007f-\u009f]/.test(form) || form.includes("//") || form.split("/").length !== segments) return false;
    // ".", "..", "...", ".. ": a dot segment to some server, whitespace trimmed or not.
    if (form.split("/").some((segment) => /^[.\s]*\.[.\s]*$/.test(segment))) return false;
  }
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

export function credentialHeader(route: ProxyRoute & { basicUser?: string }, secret: string): [string, string] {
  if (route.basicUser !== undefined) return ["authorization", `Basic ${Buffer.from(`${route.basicUser}:${secret}`).toString("base64")}`];
  return route.header === "authorization" ? ["authorization", `Bearer ${secret}`] : [route.header, secret];
}
