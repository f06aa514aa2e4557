import type { IncomingMessage } from "node:http";
import type { Authctl } from "../context.js";
import { readBody } from "../core/body.js";
import { typedCredential } from "../credentials/index.js";
import { mintPhantoms, revokePhantom, verifyPhantom, type PhantomGrant } from "./phantoms.js";
import type { RefreshOwner } from "./refresh.js";
import { routeFor, type UpstreamOverride } from "./routes.js";
import { UpstreamRefusedError } from "./upstreamGuard.js";

const MAX_REFRESH_BODY = 64 * 1024;

/**
 * The client's refresh request, or undefined when it is broken (then refused as holding no
 * phantom). One over the cap ends the connection: readBody stops reading there, as the service does.
 */
function readSmallBody(req: IncomingMessage): Promise<string | undefined> {
  return readBody(req, MAX_REFRESH_BODY).then(
    (body) => body.toString("utf8"),
    () => undefined,
  );
}

function refreshTokenOf(text: string | undefined, contentType: string): string | undefined {
  if (text === undefined) return undefined;
  if (contentType.includes("application/x-www-form-urlencoded")) return new URLSearchParams(text).get("refresh_token") ?? undefined;
  try {
    const body = JSON.parse(text) as { refresh_token?: unknown };
    return typeof body.refresh_token === "string" ? body.refresh_token : undefined;
  } catch {
    return undefined;
  }
}

/** How an exchange ended, for the proxy's audit line (the shape of its own refusals). */
export type ExchangeOutcome = { status: 200; grant: PhantomGrant } | { status: number; reason: string; message: string; grant?: PhantomGrant };

/** An exchange's outcome and the JSON body that answers it: the caller audits it, then answers. */
export interface Exchange {
  outcome: ExchangeOutcome;
  body: Record<string, unknown>;
}

const REASONS = { 400: "Bad Request", 401: "Unauthorized", 502: "Bad Gateway" } as const;

function refuse(status: keyof typeof REASONS, error: string, message: string, grant?: PhantomGrant): Exchange {
  return { outcome: { status, reason: REASONS[status], message, ...(grant ? { grant } : {}) }, body: { error, error_description: message } };
}

/**
 * A client's own refresh call (Codex after a 401, via CODEX_REFRESH_TOKEN_URL_OVERRIDE): it holds
 * only phantoms, so it gets new phantoms for the same session; the real login is refreshed by the
 * proxy alone (here too when it is about to expire). The presented refresh phantom is single-use,
 * like the vendors' own, and the new pair ends when the presented one would have: an agent that
 * exchanges forever still loses access when its session's grant ends.
 */
export async function exchangeRefreshPhantom(
  req: IncomingMessage,
  deps: { context: Authctl; refresher: RefreshOwner; upstreams?: Record<string, UpstreamOverride> },
): Promise<Exchange> {
  const { context } = deps;
  const presented = refreshTokenOf(await readSmallBody(req), String(req.headers["content-type"] ?? ""));
  const grant = presented === undefined ? undefined : verifyPhantom(presented, { context });
  if (!grant || grant.purpose !== "refresh") {
    return refuse(401, "invalid_grant", "authctl proxy: unknown, used, revoked or expired refresh phantom");
  }
  const target = `${grant.credentialSet}:${grant.provider}`;
  const row = context.store().get(grant.credentialSet, grant.provider);
  const type = row && typedCredential(row).payload.type;
  const route = routeFor(context.roster(), grant.provider, "oauth", deps.upstreams);
  // Only a container login is refreshed here; an API key has no refresh flow: a fresh pair would only be a way to outlive the grant.
  if (type !== "oauth" || !route) {
    const held = type ? `an ${type} credential` : "nothing stored";
    return refuse(400, "unsupported_grant_type", `authctl proxy: ${target} has no OAuth refresh through the proxy (${held}); its phantoms last as granted, start a new session for more time`, grant);
  }
  revokePhantom(presented!, { context });
  if (route.refresh) {
    try {
      await deps.refresher.fresh(grant.credentialSet, grant.provider, route.refresh);
    } catch (error) {
      // The token endpoint was never dialled: the login may be fine, so the client is not told to log in again.
      if ((error as Error).cause instanceof UpstreamRefusedError) return refuse(502, "server_error", (error as Error).message, grant);
      return refuse(401, "invalid_grant", (error as Error).message, grant);
    }
  }
  // The refresh above may have taken the last of the grant.
  if (grant.expiresAt.getTime() <= context.clock.now()) {
    return refuse(401, "invalid_grant", `authctl proxy: the grant of session ${grant.sessionId} has ended; start a new session`, grant);
  }
  const minted = mintPhantoms(grant.provider, { context, sessionId: grant.sessionId, credentialSet: grant.credentialSet, notAfter: grant.expiresAt });
  const body = {
    access_token: minted.accessToken,
    refresh_token: minted.refreshToken,
    token_type: "Bearer",
    expires_in: Math.floor((minted.expiresAt.getTime() - context.clock.now()) / 1000),
  };
  return { outcome: { status: 200, grant }, body };
}
