import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { CredentialProxy } from "./proxy.js";

export interface ListenOptions {
  /** A TCP port on 127.0.0.1 (0 picks a free one). */
  port?: number;
  /** A Unix socket path, made 0600: only this user (and containers it is mounted into) can reach it. */
  socketPath?: string;
  /** Aborting it closes the server and every connection, upgraded ones included. */
  signal?: AbortSignal;
  /** A client must finish its request headers within this (slowloris); 10 s by default. */
  headersTimeoutMs?: number;
}

export interface ListeningProxy {
  /** `http://127.0.0.1:P` for a TCP listener. */
  url?: string;
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

function removeStaleSocket(path: string): void {
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
  let closing: Promise<void> | undefined;
  const result: ListeningProxy = { close, connections: () => sockets.size };
  try {
    if (options.port !== undefined) {
      const server = track(createProxyServer(proxy, options.headersTimeoutMs));
      await listenOn(server, { port: options.port, host: "127.0.0.1" });
      result.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    if (options.socketPath !== undefined) {
      removeStaleSocket(options.socketPath);
      const server = track(createProxyServer(proxy, options.headersTimeoutMs));
      await listenOn(server, { path: options.socketPath });
      chmodSync(options.socketPath, 0o600);
      result.socketPath = options.socketPath;
    }
  } catch (error) {
    await close();
    throw error;
  }
  function close(): Promise<void> {
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
