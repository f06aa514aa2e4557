import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Authctl } from "../context.js";
import { contextFrom, type WithContext } from "../context.js";
import { readCredentialAsync } from "../access/credentials.js";
import { freshCredential, isHostLogin, refreshDue } from "../access/fresh.js";
import { CredentialRefreshError, StoreError } from "../core/errors.js";
import { credentialType, typedCredential, type CredentialPayload } from "../credentials/index.js";
import type { StoredCredential } from "../store/store.js";
import {
  BodyMeter,
  ChunkJoiner,
  decodedBody,
  DEFAULT_MAX_REQUEST_BYTES,
  type ForwardLimits,
  headersFor,
  type UpstreamResponse,
  refuseSocket,
  scrubFor,
  sendJson,
  sendScrubbed,
  upstreamRequest,
  writeRawHead,
} from "./forward.js";
import { StoreCache } from "../store/storeCache.js";
import { looksLikePhantom, type PhantomGrant, phantomKey, verifyPhantom } from "./phantoms.js";
import { CompiledPolicy, SessionMeters } from "./policy.js";
import { guardedLookup, type ResolveUpstream, UpstreamRefusedError } from "./upstreamGuard.js";
import { RefreshOwner } from "./refresh.js";
import { exchangeRefreshPhantom } from "./refreshExchange.js";
import { rewritesFor, sendRewritten } from "./rewrite.js";
import { UpstreamPool, UpstreamRequest } from "./upstreamClient.js";
import { bridgeWebSocket } from "./websocket.js";
import { gitRequest, gitRouteFor, sendGitRefusal } from "./gitRoutes.js";
import { pathAllowed, phantomFrom, type ProxyMode, type ResolvedRoute, routeFor, type UpstreamOverride } from "./routes.js";

/** One proxied request, as the audit log records it: never headers, bodies or tokens. */
export interface ProxyAuditEntry {
  /** Absent when the request carried no phantom the proxy knows. */
  provider?: string;
  credentialSet?: string;
  sessionId?: string;
  /** Why the proxy answered itself and forwarded nothing (an unknown phantom, a path off the allow-list …). */
  refused?: string;
  /** The policy rule that refused it (`session.max_requests`, `proxy.oauth.deny_by_default.user-keys` …). */
  rule?: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

export interface CredentialProxyOptions extends WithContext {
  /** Per-provider replacements of the roster's `proxy:` blocks (URLs, headers, allow-lists). */
  upstreams?: Record<string, UpstreamOverride>;
  maxRequestBytes?: number;
  upstreamIdleMs?: number;
  /** A WebSocket bridge with no bytes either way for this long is closed (default 5 min). */
  upgradeIdleMs?: number;
  /** Connections one agent session may hold open at once (default 32): one session cannot take the whole listener. */
  maxConnectionsPerSession?: number;
  /** Where OAuth clients send their refresh calls (Codex: CODEX_REFRESH_TOKEN_URL_OVERRIDE). */
  refreshPath?: string;
  /** Each request's line; a refusal's is given before the refusal is answered, so a sink that writes it at once has it in the file first. */
  onAudit?: (entry: ProxyAuditEntry) => void;
  /** How upstream names resolve (the system resolver by default); every address is checked by the upstream guard. */
  resolveUpstream?: ResolveUpstream;
}

export interface CredentialProxy {
  readonly context: Authctl;
  readonly refresher: RefreshOwner;
  readonly refreshPath: string;
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
}

interface Target {
  grant: PhantomGrant;
  route: ResolvedRoute;
  credential: StoredCredential<CredentialPayload>;
}

type Refusal = { status: number; reason: string; message: string; rule?: string; grant?: PhantomGrant; headers?: Record<string, string> };

const REASONS: Record<number, string> = { 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable" };

/** The JSON body of a refusal: the rule that refused, when a rule did, so a client (and its user) can tell. */
/** The credential could not be made ready (a refresh that failed or did not answer, or the store): a 502 or 503 saying so, never a forwarded request. */
const notReady = (target: Target, error: unknown): Refusal => ({
  grant: target.grant,
  // A store that does not answer (its database restarting) is this service unavailable, not a bad upstream.
  ...(error instanceof StoreError ? { status: 503, reason: "Service Unavailable" } : { status: 502, reason: "Bad Gateway" }),
  rule: "fail_closed",
  message: `authctl proxy: the credential for ${target.grant.credentialSet}:${target.grant.provider} could not be made ready, so nothing was forwarded: ${(error as Error).message.slice(0, 300)}`,
});

const refusalBody = (refusal: Refusal) => ({ error: { type: "authctl_proxy", ...(refusal.rule ? { rule: refusal.rule } : {}), message: refusal.message } });

/** A container login with a refresh route: the proxy is its one refresher. */
const refreshable = (target: Target) => target.credential.payload.type === "oauth" && Boolean(target.route.refresh);

/**
 * Whether a 401 from the upstream is worth one refresh and one more send: the credential can be
 * renewed (a container login with a refresh route, or a host login with its refresh token), so the
 * 401 may mean a token the vendor revoked or rotated before the expiry the store knows.
 */
const retriesOn401 = (target: Target) => refreshable(target) || isHostLogin(target.credential.payload);

/** The one "send once, and again after a refresh on a 401" decision, for requests and upgrades alike. */
const retryAfter = (target: Target, upstreamRes: UpstreamResponse, retried: boolean) => upstreamRes.statusCode === 401 && !retried && retriesOn401(target);

/** The stored row as a typed credential; undefined for none, or for one of no known shape (refused, not guessed at). */
function typedOrNone(row: StoredCredential | undefined): StoredCredential<CredentialPayload> | undefined {
  try {
    return row && typedCredential(row);
  } catch {
    return undefined;
  }
}

/**
 * The credential proxy as handlers, to mount in any node:http server (`authctl proxy serve`, later
 * the daemon): a client presents a phantom token; the proxy checks it, swaps in the real
 * credential of its (set, provider), forwards only that provider's allowed methods and paths to
 * its upstream, pipes request bodies untouched, returns answers with the real secret replaced by
 * the phantom, and is the one refresher of OAuth logins.
 */
export function createCredentialProxy(options: CredentialProxyOptions = {}): CredentialProxy {
  const context = contextFrom(options);
  const refresher = new RefreshOwner(context, { resolveUpstream: options.resolveUpstream });
  const refreshPath = options.refreshPath ?? "/oauth/token";
  const limits: ForwardLimits = {
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    upstreamIdleMs: options.upstreamIdleMs ?? 300_000,
    lookup: guardedLookup(options.resolveUpstream),
  };
  const pool = new UpstreamPool();
  const upgradeIdleMs = options.upgradeIdleMs ?? 300_000;
  const maxPerSession = options.maxConnectionsPerSession ?? 32;
  const sessionConnections = new Map<string, number>();
  const counted = new WeakSet<Socket>();

  /** Counts a connection against the session of the first phantom it carries, until it closes. */
  function admit(grant: PhantomGrant, socket: Socket): boolean {
    if (counted.has(socket)) return true;
    const open = sessionConnections.get(grant.sessionId) ?? 0;
    if (open >= maxPerSession) return false;
    counted.add(socket);
    sessionConnections.set(grant.sessionId, open + 1);
    socket.once("close", () => {
      const left = (sessionConnections.get(grant.sessionId) ?? 1) - 1;
      if (left > 0) sessionConnections.set(grant.sessionId, left);
      else sessionConnections.delete(grant.sessionId);
    });
    return true;
  }

  // Kept until anything is committed to the store (a revocation or refresh, from any process). A
  // phantom's entry holds its credential too, so a request asks the store's generation once.
  const phantoms = new StoreCache<{ grant: PhantomGrant; credential?: StoredCredential<CredentialPayload> }>(() => context.store());
  const credentials = new StoreCache<StoredCredential<CredentialPayload>>(() => context.store());
  const credentialOf = (grant: PhantomGrant) =>
    grant.purpose === "access" ? credentials.get(`${grant.credentialSet}\0${grant.provider}`, () => typedOrNone(context.store().get(grant.credentialSet, grant.provider))) : undefined;

  /** Built once per provider and mode: the context loads its roster once. */
  const routes = new Map<string, ResolvedRoute | undefined>();
  function routeOf(provider: string, mode: ProxyMode): ResolvedRoute | undefined {
    const key = `${provider}\0${mode}`;
    if (!routes.has(key)) routes.set(key, routeFor(context.roster(), provider, mode, options.upstreams));
    return routes.get(key);
  }

  const meters = new SessionMeters();
  const meterKey = (grant: PhantomGrant) => `${grant.sessionId}\0${grant.provider}`;
  const compiled = new WeakMap<PhantomGrant, CompiledPolicy>();
  /** Compiled once per grant (the grant cache keeps it until the store changes), then a few regex tests a request. */
  function policyFor(grant: PhantomGrant, route: ResolvedRoute): CompiledPolicy {
    let policy = compiled.get(grant);
    const where = route.where ?? `proxy.${route.mode}`;
    if (!policy || policy.where !== where) compiled.set(grant, (policy = new CompiledPolicy(grant.provider, where, route, grant.policy)));
    return policy;
  }

  /**
   * A session's byte budget holds within an answer too: one that runs past it is cut off, not
   * delivered whole. Returns what counts the answer's bytes as they arrive (before they are sent).
   */
  function capBytes(grant: PhantomGrant, upstreamRes: UpstreamResponse, res: ServerResponse, sent: number): ((bytes: number) => void) | undefined {
    const budget = meters.bytesLeft(meterKey(grant), grant.policy ?? {});
    let left = budget - sent;
    if (left === Infinity) return undefined;
    return (bytes) => {
      left -= bytes;
      if (left < 0) {
        // Spent, however little of the answer reached the client before the cut.
        meters.addBytes(meterKey(grant), Math.max(0, budget));
        upstreamRes.destroy();
        res.destroy();
      }
    };
  }

  /** Fails closed: when the store or a stored policy cannot answer, nothing is forwarded and the answer says why. */
  function resolve(req: IncomingMessage): Target | Refusal {
    try {
      return decide(req);
    } catch (error) {
      const message = `authctl proxy: no decision could be made, so nothing was forwarded (${(error as Error).message.slice(0, 300)})`;
      return { status: 503, reason: "Service Unavailable", rule: "fail_closed", message };
    }
  }

  function decide(req: IncomingMessage): Target | Refusal {
    const phantom = phantomFrom(req.headers);
    const known =
      phantom === undefined || !looksLikePhantom(phantom)
        ? undefined
        : phantoms.get(phantomKey(phantom), () => {
            const grant = verifyPhantom(phantom, { context });
            return grant && { grant, credential: credentialOf(grant) };
          });
    const grant = known?.grant;
    if (!grant || grant.purpose !== "access" || grant.expiresAt.getTime() <= context.clock.now()) {
      return { status: 401, reason: "Unauthorized", message: "authctl proxy: unknown, revoked or expired phantom token" };
    }
    const credential = known.credential;
    const mode = credential && credentialType(credential.payload).mode;
    if (!credential || !mode) {
      return { grant, status: 401, reason: "Unauthorized", message: `authctl proxy: no usable credential stored for ${grant.credentialSet}:${grant.provider}` };
    }
    const git = gitRequest(req.method ?? "", req.url ?? "");
    const gitRoute = git && gitRouteFor(context.roster(), grant.provider, mode, options.upstreams);
    const route = gitRoute || routeOf(grant.provider, mode);
    if (!route) return { grant, status: 403, reason: "Forbidden", message: `authctl proxy: ${grant.provider} has no proxy route for ${mode} credentials` };
    if (!(route.methods as string[]).includes(req.method ?? "")) {
      const allow = route.methods.join(", ");
      const message = `authctl proxy: method ${(req.method ?? "").slice(0, 16)} is not allowed for ${grant.provider} (allowed: ${allow}; the roster's proxy.${mode}.methods)`;
      return { grant, status: 405, reason: "Method Not Allowed", message, headers: { allow } };
    }
    if (!pathAllowed(req.url ?? "", route.allow_paths)) {
      return { grant, status: 403, reason: "Forbidden", message: `authctl proxy: this path is not allowed for ${grant.provider}` };
    }
    const refused = gitRoute ? policyFor(grant, route).check(git.method, git.path) : policyFor(grant, route).check(req.method ?? "", req.url ?? "");
    if (refused) return { grant, reason: REASONS[refused.status]!, ...refused };
    if (!admit(grant, req.socket)) {
      const message = `authctl proxy: session ${grant.sessionId} already holds ${maxPerSession} connections to the proxy; close some and retry`;
      return { grant, status: 429, reason: "Too Many Requests", message };
    }
    const over = meters.take(meterKey(grant), grant.policy ?? {}, context.clock.now());
    if (over) return { grant, reason: REASONS[over.status]!, ...over };
    return { grant, route, credential };
  }

  /**
   * The secret to send, as its type says: a container login's or a host login's token refreshed
   * first when it expires soon (or was just rejected); a command source's output as the service would give it (cached or run now).
   */
  async function secretFor(target: Target, rejected?: string): Promise<string> {
    const { credentialSet, provider } = target.grant;
    const refresh = target.route.refresh;
    if (refreshable(target)) target.credential = await refresher.fresh(credentialSet, provider, refresh!, rejected);
    else if (refreshDue(context, target.credential.payload, rejected === undefined ? {} : { rejected })) {
      // Host logins renew through the one path every delivery shares, under the same lease.
      target.credential = (await freshCredential(context, credentialSet, provider, rejected === undefined ? {} : { rejected })) ?? target.credential;
    }
    let { payload } = target.credential;
    if (payload.type === "command") payload = (await readCredentialAsync(context, credentialSet, provider))?.payload as CredentialPayload;
    const secret = payload && credentialType(payload).secret(payload);
    if (!secret) throw new CredentialRefreshError(`authctl proxy: ${credentialSet}:${provider} holds no secret to send now; log in again (authctl auth ${provider})`);
    return secret;
  }

  function audit(target: Pick<Target, "grant"> | Refusal, req: IncomingMessage, status: number, bytesIn: number, bytesOut: number, started: number): void {
    const grant = target.grant;
    if (grant) meters.addBytes(meterKey(grant), bytesIn + bytesOut);
    if (!options.onAudit) return;
    const url = req.url ?? "";
    const query = url.indexOf("?");
    // Field by field, in the line's order: no small objects built and spread on every request.
    const entry = {} as ProxyAuditEntry;
    if (grant) (entry.provider = grant.provider), (entry.credentialSet = grant.credentialSet), (entry.sessionId = grant.sessionId);
    if ("message" in target) entry.refused = target.message;
    if ("rule" in target && target.rule) entry.rule = target.rule;
    entry.method = req.method ?? "GET";
    // The query is cut off: some APIs take a key there (`?key=`), and the path is all the audit needs.
    entry.path = (query === -1 ? url : url.slice(0, query)).slice(0, 512);
    entry.status = status;
    entry.bytesIn = bytesIn;
    entry.bytesOut = bytesOut;
    entry.durationMs = Math.round((performance.now() - started) * 100) / 100;
    options.onAudit(entry);
  }

  async function proxyRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    if (req.method === "POST" && (req.url ?? "").split("?")[0] === refreshPath) {
      const { outcome, body } = await exchangeRefreshPhantom(req, { context, refresher, upstreams: options.upstreams });
      audit(outcome, req, outcome.status, 0, 0, started);
      return sendJson(res, outcome.status, body);
    }
    const target = resolve(req);
    if ("status" in target) {
      req.resume();
      audit(target, req, target.status, 0, 0, started);
      if (gitRequest(req.method ?? "", req.url ?? "")) sendGitRefusal(res, target.status, target.rule ? `${target.message} [rule ${target.rule}]` : target.message, target.headers);
      else sendJson(res, target.status, refusalBody(target), target.headers);
      return;
    }
    const meter = new BodyMeter(limits.maxRequestBytes);
    let joiner: ChunkJoiner | undefined;
    const bodyDone = new Promise<void>((done) => meter.once("end", done).once("error", () => done()));
    const rewrites = rewritesFor(target.route, req.method ?? "GET", req.url ?? "/");
    const phantom = phantomFrom(req.headers) ?? "";

    const attempt = async (secret: string, replay: Buffer | undefined, retried: boolean) => {
      const headers = headersFor(target.route, req.headers, secret);
      const scrub = scrubFor(secret, phantom);
      // The proxy's own reader relays the answer in whole socket reads; node:http's client is kept for
      // what it alone does here: a chunked request body, a replay, and answers a rewrite reads whole.
      const own = !retried && !rewrites.length && req.headers["transfer-encoding"] === undefined;
      const bodyless = Number(req.headers["content-length"] ?? 0) === 0;
      const upstream = own
        ? new UpstreamRequest(pool, target.route, req.method ?? "GET", req.url ?? "/", headers, limits, bodyless)
        : upstreamRequest(target.route, req.method ?? "GET", req.url ?? "/", headers, limits);
      res.once("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.on("socket", (s: Socket) => s.setNoDelay(true));
      upstream.on("error", (error) => {
        if (meter.tooLarge) sendJson(res, 413, { error: { type: "authctl_proxy", message: `authctl proxy: request body larger than ${limits.maxRequestBytes} bytes` } });
        else if (error instanceof UpstreamRefusedError) {
          const refusal = { grant: target.grant, status: 502, reason: "Bad Gateway", rule: "upstream_guard", message: error.message };
          audit(refusal, req, 502, meter.bytes, 0, started);
          return sendJson(res, 502, refusalBody(refusal));
        } else sendJson(res, 502, { error: { type: "authctl_proxy", message: "authctl proxy: the upstream did not answer" } });
        audit(target, req, res.statusCode, meter.bytes, joiner?.bytes ?? 0, started);
      });
      upstream.on("response", (upstreamRes: UpstreamResponse) => {
        if (retryAfter(target, upstreamRes, retried)) {
          upstreamRes.resume();
          // The refused upstream may stop reading: read the rest of the body into the replay copy.
          meter.unpipe(upstream);
          meter.resume();
          void retryAfterRefresh(secret);
          return;
        }
        const count = capBytes(target.grant, upstreamRes, res, meter.bytes);
        if (rewrites.length) {
          if (count) upstreamRes.on("data", (chunk: Buffer) => count(chunk.length));
          // A route with rewrites is always sent through node:http (above).
          sendRewritten(upstreamRes as IncomingMessage, res, rewrites, scrub, (status, bytes) => audit(target, req, status, meter.bytes, bytes, started));
          return;
        }
        joiner = sendScrubbed(req.method, upstreamRes, res, scrub, (status, bytes) => audit(target, req, status, meter.bytes, bytes, started), count);
      });
      if (replay) upstream.end(replay);
      else {
        meter.once("error", () => upstream.destroy());
        meter.pipe(upstream);
      }
    };

    const retryAfterRefresh = async (rejected: string) => {
      await bodyDone;
      if (!meter.replayable || meter.tooLarge) {
        sendJson(res, 401, { error: { type: "authctl_proxy", message: "authctl proxy: the upstream refused the credential" } });
        audit(target, req, 401, meter.bytes, 0, started);
        return;
      }
      try {
        const secret = await secretFor(target, rejected);
        await attempt(secret, Buffer.concat(meter.chunks), true);
      } catch (error) {
        sendJson(res, 401, { error: { type: "authctl_proxy", message: (error as Error).message } });
        audit(target, req, 401, meter.bytes, 0, started);
      }
    };

    req.once("aborted", () => meter.destroy());
    req.pipe(meter);
    meter.on("error", () => req.unpipe(meter));
    try {
      await attempt(await secretFor(target), undefined, false);
    } catch (error) {
      req.resume();
      const refusal = notReady(target, error);
      audit(refusal, req, refusal.status, meter.bytes, 0, started);
      sendJson(res, refusal.status, refusalBody(refusal));
    }
  }

  async function proxyUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now();
    socket.on("error", () => socket.destroy());
    const resolved = resolve(req);
    const protocol = String(req.headers.upgrade ?? "").trim().toLowerCase();
    // h2c and any other protocol would carry requests past every rule here: only WebSocket, where allowed.
    const target: Target | Refusal =
      "status" in resolved || (protocol === "websocket" && resolved.route.websocket && req.method === "GET")
        ? resolved
        : { grant: resolved.grant, status: 403, reason: "Forbidden", message: `authctl proxy: upgrade to "${protocol.slice(0, 32)}" is not allowed for ${resolved.grant.provider} (only a WebSocket GET, on a route with websocket: true)` };
    if ("status" in target) {
      audit(target, req, target.status, 0, 0, started);
      return refuseSocket(socket, target.status, target.reason, refusalBody(target), target.headers);
    }
    const phantom = phantomFrom(req.headers) ?? "";
    const attempt = (secret: string, retried: boolean) => {
      const scrub = scrubFor(secret, phantom);
      const upstream = upstreamRequest(target.route, req.method ?? "GET", req.url ?? "/", headersFor(target.route, req.headers, secret, true), limits);
      socket.once("close", () => upstream.destroy());
      upstream.on("error", (error) => {
        const guarded = error instanceof UpstreamRefusedError;
        refuseSocket(socket, 502, "Bad Gateway", { error: { type: "authctl_proxy", ...(guarded ? { rule: "upstream_guard" } : {}), message: guarded ? error.message : "authctl proxy: the upstream did not answer" } });
      });
      upstream.on("upgrade", (upstreamRes, upstreamSocket: Socket, upstreamHead: Buffer) => {
        // A bridge nobody uses still holds two sockets: closed after upgradeIdleMs without a byte either way.
        for (const end of [socket, upstreamSocket]) end.setTimeout(upgradeIdleMs, () => (socket.destroy(), upstreamSocket.destroy()));
        writeRawHead(socket, upstreamRes, [], scrub);
        const budget = meters.bytesLeft(meterKey(target.grant), target.grant.policy ?? {});
        // Audited once the bridge ends, with what crossed it both ways (and the rule, when the budget cut it).
        bridgeWebSocket(socket, upstreamSocket, { head, upstreamHead, scrub, budget }, ({ bytesIn, bytesOut, spent }) => audit(spent ? { ...target, ...spent } : target, req, 101, bytesIn, bytesOut, started));
      });
      upstream.on("response", (upstreamRes) => {
        if (retryAfter(target, upstreamRes, retried)) {
          upstreamRes.resume();
          secretFor(target, secret).then(
            (fresh) => attempt(fresh, true),
            (error: Error) => refuseSocket(socket, 401, "Unauthorized", { error: { type: "authctl_proxy", message: error.message } }),
          );
          return;
        }
        const body = decodedBody(upstreamRes);
        if (!body) return void socket.destroy();
        writeRawHead(socket, upstreamRes, ["connection: close"], scrub);
        body.pipe(new ChunkJoiner(scrub)).pipe(socket);
        audit(target, req, upstreamRes.statusCode ?? 502, 0, 0, started);
      });
      upstream.end();
    };
    try {
      attempt(await secretFor(target), false);
    } catch (error) {
      const refusal = notReady(target, error);
      audit(refusal, req, refusal.status, 0, 0, started);
      refuseSocket(socket, refusal.status, refusal.reason, refusalBody(refusal));
    }
  }

  return {
    context,
    refresher,
    refreshPath,
    handleRequest: (req, res) => {
      proxyRequest(req, res).catch(() => sendJson(res, 500, { error: { type: "authctl_proxy", message: "authctl proxy: internal error" } }));
    },
    handleUpgrade: (req, socket, head) => {
      proxyUpgrade(req, socket, head).catch(() => socket.destroy());
    },
  };
}
