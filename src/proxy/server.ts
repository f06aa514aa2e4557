import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import tls from "node:tls";
import type { ServerIdentity } from "./localCa.js";
import type { CredentialProxy } from "./proxy.js";

/** A TLS record starts with the handshake content type; no HTTP method starts with this byte. */
const TLS_HANDSHAKE = 0x16;
/**
 * Connections one listener accepts at once; more are closed as they arrive. Each may hold an
 * upstream socket too, so two listeners stay well inside the usual 1024 open files and leave
 * the daemon's service socket and store their own.
 */
export const DEFAULT_MAX_CONNECTIONS = 128;
/** Well within the certificates' one-day life (localCa.ts). */
const RENEW_SERVER_CERT_MS = 6 * 60 * 60 * 1000;

export interface ListenOptions {
  /** A TCP port on 127.0.0.1 (0 picks a free one). */
  port?: number;
  /** A Unix socket path, made 0600: only this user (and containers it is mounted into) can reach it. */
  socketPath?: string;
  /** Aborting it closes the server and every connection, upgraded ones included. */
  signal?: AbortSignal;
  /** A client must finish its request headers within this (slowloris); 10 s by default. */
  headersTimeoutMs?: number;
  /** Connections each listener holds at once (DEFAULT_MAX_CONNECTIONS); one more is closed at once. */
  maxConnections?: number;
  /**
   * Also speak TLS on every listener (told apart from plain HTTP by the first byte), for clients
   * that accept only an HTTPS backend: `identity` is asked for a fresh certificate at start and
   * every `renewMs` (default 6 h), so a short-lived one never runs out under a long-lived proxy.
   */
  tls?: { identity: () => ServerIdentity; renewMs?: number };
}

export interface ListeningProxy {
  /** `http://127.0.0.1:P` for a TCP listener. */
  url?: string;
  /** `https://127.0.0.1:P`: the same port, when `tls` was given. */
  tlsUrl?: string;
  socketPath?: string;
  /** Client connections open now (requests in flight, streams, WebSocket bridges, idle keep-alives). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A node:http server around the proxy's handlers, with the timeouts a local service needs: a
 * client must send its headers within 10 s (slowloris), and idle keep-alive sockets close.
 */
export function createProxyServer(proxy: CredentialProxy, headersTimeoutMs = 10_000): http.Server {
  const server = http.createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: 300_000,
    keepAliveTimeout: 5_000,
    noDelay: true,
    // Node checks these timeouts on this interval (30 s by default): check often enough to honour them.
    connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs / 2),
  });
  server.on("request", proxy.handleRequest);
  server.on("upgrade", proxy.handleUpgrade);
  server.on("clientError", (error: Error, socket: Socket) => {
    // Destroyed once the answer is written: a slow client that never reads would keep a half-closed socket.
    const status = (error as { code?: string }).code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`, () => socket.destroy());
    else socket.destroy();
  });
  return server;
}

/**
 * Lets `server` answer TLS and plain HTTP on one listener: the first byte of a connection decides,
 * and a TLS connection is handed to the same HTTP handlers once its handshake is done, so
 * timeouts, upgrades and the proxy's handlers are the same for both.
 */
function acceptTlsToo(server: http.Server, secure: tls.Server, handshakeTimeoutMs: number): void {
  const handlers = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  const serveHttp = (socket: Socket) => {
    for (const handler of handlers) handler.call(server, socket);
  };
  secure.on("secureConnection", serveHttp);
  secure.on("tlsClientError", (_error, socket) => socket.destroy());
  server.on("connection", (socket: Socket) => {
    // Until the first byte arrives no HTTP timeout applies yet: a silent client is cut off here.
    socket.setTimeout(handshakeTimeoutMs, () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) secure.emit("connection", socket);
      else serveHttp(socket);
      process.nextTick(() => socket.resume());
    });
  });
}

/** Removes a socket left at `path`; anything else there (a regular file, a link) is left alone. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}

async function listenOn(server: http.Server, target: { port: number; host: string } | { path: string }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(target, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Serves the proxy on a TCP port on 127.0.0.1 and/or a Unix socket until `close()` or the signal. */
export async function listenProxy(proxy: CredentialProxy, options: ListenOptions): Promise<ListeningProxy> {
  const servers: http.Server[] = [];
  const sockets = new Set<Socket>();
  const track = (server: http.Server) => {
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
    });
    servers.push(server);
    return server;
  };
  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
  // One TLS server per listener: a TLS connection must reach the HTTP server of its own listener
  // only (one shared TLS server handed each connection to every listener's parser at once).
  const secures: tls.Server[] = [];
  let renewal: NodeJS.Timeout | undefined;
  const tlsOptions = options.tls;
  if (tlsOptions) {
    const renew = () => {
      const identity = tlsOptions.identity();
      for (const secure of secures) secure.setSecureContext(identity);
    };
    renewal = setInterval(renew, tlsOptions.renewMs ?? RENEW_SERVER_CERT_MS).unref();
  }
  const serverFor = () => {
    const server = createProxyServer(proxy, headersTimeoutMs);
    server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (tlsOptions) {
      const secure = tls.createServer({ ...tlsOptions.identity(), handshakeTimeout: headersTimeoutMs });
      secures.push(secure);
      acceptTlsToo(server, secure, headersTimeoutMs);
    }
    // Tracked after: a connection that never sends a byte must be closed too.
    return track(server);
  };
  let closing: Promise<void> | undefined;
  const result: ListeningProxy = { close, connections: () => sockets.size };
  try {
    if (options.port !== undefined) {
      const server = serverFor();
      await listenOn(server, { port: options.port, host: "127.0.0.1" });
      const port = (server.address() as AddressInfo).port;
      result.url = `http://127.0.0.1:${port}`;
      if (tlsOptions) result.tlsUrl = `https://127.0.0.1:${port}`;
    }
    if (options.socketPath !== undefined) {
      removeStaleSocket(options.socketPath);
      const server = serverFor();
      await listenOn(server, { path: options.socketPath });
      chmodSync(options.socketPath, 0o600);
      result.socketPath = options.socketPath;
    }
  } catch (error) {
    await close();
    throw error;
  }
  function close(): Promise<void> {
    if (renewal) clearInterval(renewal);
    closing ??= Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            for (const s of sockets) s.destroy();
          }),
      ),
    ).then(() => undefined);
    return closing;
  }
  options.signal?.addEventListener("abort", () => void close(), { once: true });
  if (options.signal?.aborted) await close();
  return result;
}
