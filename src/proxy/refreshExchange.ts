import type { IncomingMessage, ServerResponse } from "node:http";
import type { Authctl } from "../context.js";
import { sendJson } from "./forward.js";
import { mintPhantoms, revokePhantom, verifyPhantom } from "./phantoms.js";
import type { RefreshOwner } from "./refresh.js";
import { routeFor, type UpstreamOverride } from "./routes.js";

const MAX_REFRESH_BODY = 64 * 1024;

function readSmallBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REFRESH_BODY) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_REFRESH_BODY ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => resolve(undefined));
  });
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

/**
 * A client's own refresh call (Codex after a 401, via CODEX_REFRESH_TOKEN_URL_OVERRIDE): it holds
 * only phantoms, so it gets new phantoms for the same session; the real login is refreshed by the
 * proxy alone (here too when it is about to expire). The presented refresh phantom is single-use,
 * like the vendors' own.
 */
export async function exchangeRefreshPhantom(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { context: Authctl; refresher: RefreshOwner; upstreams?: Record<string, UpstreamOverride> },
): Promise<void> {
  const presented = refreshTokenOf(await readSmallBody(req), String(req.headers["content-type"] ?? ""));
  const grant = presented === undefined ? undefined : verifyPhantom(presented, { context: deps.context });
  if (!grant || grant.purpose !== "refresh") {
    sendJson(res, 401, { error: "invalid_grant", error_description: "authctl proxy: unknown, used, revoked or expired refresh phantom" });
    return;
  }
  revokePhantom(presented!, { context: deps.context });
  const credential = deps.context.store().info(grant.credentialSet, grant.provider);
  const refresh = routeFor(deps.context.roster(), grant.provider, "oauth", deps.upstreams)?.refresh;
  if (credential?.kind === "oauth" && refresh) {
    try {
      await deps.refresher.fresh(grant.credentialSet, grant.provider, refresh);
    } catch (error) {
      sendJson(res, 401, { error: "invalid_grant", error_description: (error as Error).message });
      return;
    }
  }
  const minted = mintPhantoms(grant.provider, {
    context: deps.context,
    sessionId: grant.sessionId,
    credentialSet: grant.credentialSet,
    ttlMs: Math.max(60_000, grant.expiresAt.getTime() - deps.context.clock.now()),
  });
  sendJson(res, 200, {
    access_token: minted.accessToken,
    refresh_token: minted.refreshToken,
    token_type: "Bearer",
    expires_in: Math.floor((minted.expiresAt.getTime() - deps.context.clock.now()) / 1000),
  });
}
