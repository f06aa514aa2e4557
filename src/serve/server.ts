import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { z } from "zod";
import { ADMIN_KEY_LABEL, ADMIN_MAX_AGE_MS, ADMIN_MAX_AHEAD_MS, ADMIN_SCHEME, adminSignature, newDaemonId } from "../access/adminAuth.js";
import * as P from "../access/protocol.js";
import type { Authctl } from "../context.js";
import { readBody } from "../core/body.js";
import { AuthctlError, DeliveryRefusedError } from "../core/errors.js";
import { AuditLog, auditMaxBytes, auditPath } from "../store/audit.js";
import { HttpFailure, type Caller } from "./failure.js";
import { foreignPeer, peerReader, type PeerCheckState, type PeerCredentials } from "./peer.js";
import { mountCredentialRoutes } from "./routes.js";
import { mountSecretRoutes } from "./secretRoutes.js";
import { mountUnlockRoutes } from "./unlockRoutes.js";
import { digestsEqual, TokenRegistry, type TokenRecord } from "./tokens.js";

export interface RouteContext<B> {
  body: B;
  caller: Caller;
  /** For the audit line: "set:provider" etc. */
  setTarget(target: string): void;
}

export interface Route<B = unknown> {
  /** The request body schema; undefined for GET routes. */
  schema?: z.ZodType<B>;
  handle(request: RouteContext<B>): unknown;
}

export interface ServiceServer {
  server: Server;
  tokens: TokenRegistry;
  audit: AuditLog;
  /** Whether callers' uids are checked (SO_PEERCRED), or why not. */
  peerCheck: PeerCheckState;
  /** This run's random id, named by health: admin requests are signed for it. */
  daemonId: string;
  /** Adds or replaces a route (`/v1/...`); the credential proxy mounts its own beside these. */
  route<B>(path: string, route: Route<B>): void;
  /** Milliseconds since the last request, for idle exit. */
  idleMs(): number;
  close(): Promise<void>;
}

export interface ServiceServerOptions {
  context: Authctl;
  /** Called on an admin `/v1/shutdown`. */
  onShutdown?: () => void;
  maxBodyBytes?: number;
  /**
   * "uid" (default): a caller must run as the service's uid or root, read from the socket where the
   * optional native helper is available (a second line behind the 0700 socket directory and the
   * token). "off": the token alone decides, e.g. for containers whose users map to other host uids.
   */
  peerCheck?: "uid" | "off";
  /** Where the credential proxy of the same daemon listens, reported by health so clients find it. */
  proxyAddress?: () => P.ProxyAddress | undefined;
}

/** Connections the service socket holds at once; more are closed as they arrive. */
const SERVICE_MAX_CONNECTIONS = 256;

const actorOf = (caller: Caller) => (caller.kind === "token" ? `token:${caller.token.id}` : caller.kind);

/**
 * The local credential service as a node:http server (not yet listening): JSON routes under
 * `/v1/`, callers identified by a capability token (`Bearer act_…`) or an admin signature made with
 * a key derived from the store key, every request validated and audited.
 */
export function createServiceServer(options: ServiceServerOptions): ServiceServer {
  const { context } = options;
  const now = () => context.clock.now();
  const tokens = new TokenRegistry(now);
  const audit = new AuditLog(auditPath(context.home), now, { groupWrites: true, keeper: () => context.store().auditKeeper(), maxBytes: auditMaxBytes(context.env) });
  const routes = new Map<string, Route<never>>();
  // Fresh at each start: admin signatures made for an earlier run, whose nonces are forgotten, fail.
  const daemonId = newDaemonId();
  const seenNonces = new Map<string, number>();
  let adminKey: Buffer | undefined;
  let lastRequest = now();
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const reader = options.peerCheck === "off" ? { reason: "turned off (peerCheck: \"off\")" } : peerReader();
  const peerCheck: PeerCheckState = "read" in reader ? { enabled: true } : { enabled: false, reason: reader.reason };
  const ownUid = process.getuid?.() ?? 0;
  // Read once per connection, when it is accepted: keep-alive clients pay for it once.
  const peers = new WeakMap<object, PeerCredentials | undefined>();

  /** `<daemon id>.<ms>.<nonce>.<hmac>`: good once, for this run, made at most seconds ago. */
  const verifyAdmin = (credentials: string, path: string, body: string): Caller => {
    const [id, ts, nonce, signature, ...rest] = credentials.split(".");
    const at = Number(ts);
    if (!id || !nonce || !signature || rest.length || !Number.isSafeInteger(at)) {
      throw new HttpFailure(401, "unauthorized", `admin signature malformed: expected ${ADMIN_SCHEME} <daemon id>.<ms>.<nonce>.<hmac>`);
    }
    if (at - now() > ADMIN_MAX_AHEAD_MS) {
      throw new HttpFailure(401, "unauthorized", `admin signature dated ${Math.round((at - now()) / 1000)} s in the future (more than ${ADMIN_MAX_AHEAD_MS / 1000} s): check the clock`);
    }
    if (now() - at > ADMIN_MAX_AGE_MS) {
      throw new HttpFailure(401, "unauthorized", `admin signature too old (more than ${ADMIN_MAX_AGE_MS / 1000} s): check the clock, and sign each request just before sending it`);
    }
    if (id !== daemonId) {
      throw new HttpFailure(401, "unauthorized", "admin signature made for another daemon run: read /v1/health again and sign for the daemon id it names");
    }
    adminKey ??= context.store().subkey(ADMIN_KEY_LABEL);
    const expected = Buffer.from(adminSignature(adminKey, daemonId, at, nonce, path, body), "hex");
    if (!digestsEqual(expected, Buffer.from(signature, "hex"))) throw new HttpFailure(401, "unauthorized", "admin signature does not match this store's key");
    if (seenNonces.has(nonce)) throw new HttpFailure(401, "unauthorized", "admin signature already used (a replayed request): sign each request anew");
    // A nonce older than the window cannot come back: its signature is refused as too old.
    for (const [n, t] of seenNonces) if (now() - t > ADMIN_MAX_AGE_MS) seenNonces.delete(n);
    seenNonces.set(nonce, at);
    return { kind: "admin" };
  };

  const callerOf = (req: IncomingMessage, path: string, body: string): Caller => {
    const header = req.headers.authorization ?? "";
    if (header.startsWith("Bearer ")) {
      const verdict = tokens.verify(header.slice(7));
      if (!verdict.ok) throw new HttpFailure(401, "unauthorized", verdict.reason);
      return { kind: "token", token: verdict.token };
    }
    if (header.startsWith(`${ADMIN_SCHEME} `)) return verifyAdmin(header.slice(ADMIN_SCHEME.length + 1), path, body);
    return { kind: "anonymous" };
  };

  const respond = (res: ServerResponse, status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    lastRequest = now();
    const path = (req.url ?? "/").split("?")[0]!;
    const op = path.replace(/^\/v1\//, "");
    let caller: Caller = { kind: "anonymous" };
    let target: string | undefined;
    const peer = peers.get(req.socket);
    const who = peer ? { pid: peer.pid, uid: peer.uid } : {};
    try {
      const route = routes.get(path);
      if (!route) throw new HttpFailure(404, "not_found", `no such operation ${path}`);
      const expectsBody = route.schema !== undefined;
      if (expectsBody !== (req.method === "POST")) throw new HttpFailure(400, "bad_request", `${path} takes ${expectsBody ? "POST with a JSON body" : "GET"}`);
      const text = (await readBody(req, maxBody, (limit) => new HttpFailure(400, "bad_request", `the body is larger than ${limit} bytes`))).toString("utf8");
      let body: unknown = undefined;
      if (route.schema) {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new HttpFailure(400, "bad_request", "the body is not JSON");
        }
        const parsed = route.schema.safeParse(json);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new HttpFailure(400, "bad_request", `${issue.path.join(".") || "body"}: ${issue.message}`);
        }
        body = parsed.data;
        const ref = body as { credentialSet?: string; provider?: string };
        if (ref.credentialSet && ref.provider) target = `${ref.credentialSet}:${ref.provider}`;
      }
      caller = callerOf(req, path, text);
      // After the caller is known, so the audit line names the token a foreign uid presented.
      const foreign = "read" in reader ? foreignPeer(peer, ownUid) : undefined;
      if (foreign) throw new HttpFailure(403, "forbidden", foreign);
      const result = await route.handle({ body: body as never, caller, setTarget: (t) => (target = t) });
      if (path !== "/v1/health") audit.record({ actor: actorOf(caller), op, ...(target ? { target } : {}), allowed: true, ...who });
      audit.whenWritten(() => respond(res, 200, result));
    } catch (error) {
      const failure =
        error instanceof HttpFailure
          ? error
          : error instanceof DeliveryRefusedError
            ? new HttpFailure(403, "refused", error.message)
            : error instanceof AuthctlError
              ? new HttpFailure(400, "bad_request", error.message)
              : new HttpFailure(500, "internal", "internal error");
      audit.record({ actor: actorOf(caller), op, ...(target ? { target } : {}), allowed: false, reason: failure.message, ...who });
      audit.whenWritten(() => respond(res, failure.status, { error: { code: failure.code, message: failure.message, ...(failure.fixCommand ? { fixCommand: failure.fixCommand } : {}) } }));
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  // Bounded like the proxy's listeners, whose bound leaves this socket (and the store) open files to work with under a flood.
  server.maxConnections = SERVICE_MAX_CONNECTIONS;
  if ("read" in reader) server.on("connection", (socket) => peers.set(socket, reader.read(socket)));
  const service: ServiceServer = {
    server,
    tokens,
    audit,
    peerCheck,
    daemonId,
    route: (path, route) => void routes.set(path, route as Route<never>),
    idleMs: () => now() - lastRequest,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        audit.close();
      }),
  };
  mountCredentialRoutes(service, options);
  mountUnlockRoutes(service, options);
  mountSecretRoutes(service, options);
  return service;
}

export { HttpFailure, type Caller } from "./failure.js";
