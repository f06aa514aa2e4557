import * as z from "zod";
import { lazy } from "../core/lazy.js";

/** Where a credential goes and which paths it may reach; one per credential mode. */
const absolutePrefix = lazy(() => z
  .string()
  .refine((p) => p.startsWith("/"), "must start with '/'")
  .refine((p) => !p.split("/").includes("..") && !p.includes("%"), "must not contain '..' or '%'"));

/**
 * The methods a route may forward. TRACE (the upstream echoes the request, real credential
 * included) and CONNECT (a tunnel past every rule here) are never forwarded.
 */
export const PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type ProxyMethod = (typeof PROXY_METHODS)[number];

/**
 * An endpoint rule: `METHOD /path` (`GET`, several as `GET,HEAD`, or `*` for any). A path segment
 * `*` matches one segment, `**` any number (none included); `*` inside a segment matches within it.
 */
export const ENDPOINT_RULE = /^(\*|[A-Z]+(?:,[A-Z]+)*) (\/[^\s?#]*)$/;
const endpointRule = lazy(() => z
  .string()
  .regex(ENDPOINT_RULE, "must be 'METHOD /path' (METHOD: GET, GET,HEAD or *; path segments * and ** match one and any number)"));

/** Names a session grants with `--grant`: lower-case words joined by '-'. */
export const ENDPOINT_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export const ProxyRouteSchema = lazy(() => z.strictObject({
  /** Upstream origin (and optional path prefix) the proxy forwards to; the client never picks the host. */
  base_url: z.url({ protocol: /^https?$/ }),
  /** The header that carries the real credential upstream. */
  header: z.enum(["authorization", "x-api-key", "x-goog-api-key"]).default("authorization"),
  /** Request paths (prefixes) a phantom may reach; anything else is refused before forwarding. */
  allow_paths: z.array(absolutePrefix).min(1, "must list at least one path prefix"),
  /** The methods a phantom may use (all of PROXY_METHODS when absent); list only what the clients need. */
  methods: z
    .array(z.enum(PROXY_METHODS, { error: `must be one of ${PROXY_METHODS.join(", ")} (TRACE and CONNECT are never proxied)` }))
    .min(1, "must list at least one method")
    .optional(),
  /**
   * Path rules per method on top of `allow_paths` and `methods`: when `allow` lists any, a request
   * must match one of them; a request matching a `deny` rule is refused.
   */
  rules: z.strictObject({ allow: z.array(endpointRule).optional(), deny: z.array(endpointRule).optional() }).optional(),
  /**
   * Endpoints refused unless a session is granted them by name (`--grant <name>`): those that mint
   * durable credentials or destroy data, which an agent must never reach with the user's login unasked.
   */
  deny_by_default: z
    .record(z.string().regex(ENDPOINT_NAME, "must be lower-case words joined by '-'"), z.array(endpointRule).min(1, "must list at least one endpoint"))
    .optional(),
  /** Whether a WebSocket upgrade (GET) may be bridged; no other upgrade protocol ever is. */
  websocket: z.boolean().optional(),
  /**
   * JSON answers the proxy edits on their way back: every `field` in the answer to a GET of
   * `path` gets `value`. For a client that asks the upstream where to send its requests next
   * (Codex's workspace routing), so it keeps sending them to the proxy.
   */
  response_rewrites: z
    .array(z.strictObject({ path: absolutePrefix, field: z.string().min(1), value: z.string() }))
    .optional(),
}));

export const ProxyRefreshSchema = lazy(() => z.strictObject({
  token_url: z.url({ protocol: /^https?$/ }),
  client_id: z.string().min(1),
}));

/**
 * `proxy:` in a roster file: the upstream for each mode the provider stores (`api_key`, `oauth`),
 * and for OAuth the refresh endpoint the proxy (the one refresher) uses. Every URL can be replaced
 * by a user roster file or by `createCredentialProxy({ upstreams })`.
 */
export const ProxySchema = lazy(() => z.strictObject({
  api_key: ProxyRouteSchema.optional(),
  oauth: ProxyRouteSchema.extend({ refresh: ProxyRefreshSchema.optional() }).optional(),
  /**
   * git's smart HTTP for `host` (clone, fetch, push), forwarded to `base_url` with the token as
   * Basic auth: an agent container's git is sent here instead of https://<host>/.
   */
  git: ProxyRouteSchema.extend({ host: z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, "must be a host name (and port)") }).optional(),
}));

export type ProxyConfig = z.infer<typeof ProxySchema>;
export type ProxyRoute = z.infer<typeof ProxyRouteSchema>;
export type ProxyOAuthRoute = NonNullable<ProxyConfig["oauth"]>;
