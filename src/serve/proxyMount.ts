import type { ProxyAddress } from "../access/protocol.js";
import type { Authctl } from "../context.js";
import { hasLivePhantoms } from "../proxy/phantoms.js";
import { localCa } from "../proxy/localCa.js";
import { createCredentialProxy, type ProxyAuditEntry } from "../proxy/proxy.js";
import type { UpstreamOverride } from "../proxy/routes.js";
import { listenProxy } from "../proxy/server.js";
import type { AuditEvent, AuditLog } from "../store/audit.js";

export interface DaemonProxyOptions {
  /** Default: `proxy.sock` beside the service socket, in the same 0700 run dir. */
  socketPath?: string;
  /** Also listen on 127.0.0.1:<port> (0 picks a free one), for clients that need a URL. */
  port?: number;
  upstreams?: Record<string, UpstreamOverride>;
  /** TLS too on every listener (the home's local CA), for clients that accept only HTTPS; default true. */
  tls?: boolean;
}

export interface DaemonProxy {
  address: ProxyAddress;
  /** Milliseconds since the proxy last answered a request. */
  idleMs(): number;
  /** Open connections, or a session whose phantoms are still live: a container may call any moment. */
  inUse(): boolean;
  close(): Promise<void>;
}

/** A proxied request as a line of the service's audit log: the phantom's session is the actor. */
export function proxyAuditEvent(entry: ProxyAuditEntry): Omit<AuditEvent, "time"> {
  const { provider, credentialSet, sessionId, refused, ...request } = entry;
  return {
    actor: sessionId ? `session:${sessionId}` : "anonymous",
    op: "proxy",
    ...(provider ? { target: `${credentialSet}:${provider}` } : {}),
    allowed: refused === undefined,
    ...(refused ? { reason: refused } : {}),
    ...request,
  };
}

/**
 * The credential proxy inside the daemon: its own listener (the socket that is mounted into agent
 * containers must never reach the service's admin routes), the daemon's store, lock and audit log.
 */
export async function mountProxy(context: Authctl, audit: AuditLog, socketPath: string, options: DaemonProxyOptions = {}): Promise<DaemonProxy> {
  let lastRequest = context.clock.now();
  // Loaded now (yaml, zod: tens of ms), not by the first request a container sends.
  context.roster();
  const proxy = createCredentialProxy({
    context,
    ...(options.upstreams ? { upstreams: options.upstreams } : {}),
    onAudit: (entry) => {
      lastRequest = context.clock.now();
      // A refusal is in the file before it is answered (the proxy audits it first); forwarded
      // requests share appends (the service's lines never wait).
      audit.record(proxyAuditEvent(entry), entry.refused === undefined ? { batch: true } : { now: true });
    },
  });
  const ca = options.tls === false ? undefined : localCa({ context });
  const tls = ca && { identity: () => ca.issueServerIdentity() };
  const listening = await listenProxy(proxy, { socketPath, ...(options.port !== undefined ? { port: options.port } : {}), ...(tls ? { tls } : {}) });
  return {
    address: {
      socket: socketPath,
      ...(listening.url ? { url: listening.url } : {}),
      ...(listening.tlsUrl ? { tlsUrl: listening.tlsUrl } : {}),
      ...(ca ? { caFile: ca.certificateFile } : {}),
    },
    idleMs: () => context.clock.now() - lastRequest,
    inUse: () => listening.connections() > 0 || hasLivePhantoms({ context }),
    close: () => listening.close(),
  };
}
