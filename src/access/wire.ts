import { connect, type Socket } from "node:net";
import { dirname, resolve } from "node:path";
import type { Duplex } from "node:stream";
import type { z } from "zod";
import { AccessDeniedError, DeliveryRefusedError, MissingCredentialsError, ServiceError, UntrustedServiceError } from "../core/errors.js";
import { privateDirProblem } from "../core/paths.js";
import { peerReader, sameUserOrRoot, type PeerCredentials } from "../core/peerCredentials.js";
import { ErrorResponse } from "./protocol.js";

/** One HTTP exchange with the local service, as the async and the sync client both perform it. */
export interface WireRequest {
  socketPath: string;
  path: string;
  /** undefined: GET (health); otherwise the JSON body of a POST. */
  body?: string;
  authorization?: string;
}
export interface WireResponse {
  status: number;
  body: string;
}

/** Turns the service's answer into the typed result, or into the typed error it stands for. */
export function decodeResponse<T>(path: string, response: WireResponse, schema: z.ZodType<T>, ref?: { credentialSet: string; provider: string }): T {
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw new ServiceError(`the authctl service answered ${path} with something that is not JSON (HTTP ${response.status})`);
  }
  if (response.status >= 200 && response.status < 300) {
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ServiceError(`the authctl service answered ${path} in an unexpected shape: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }
  const failure = ErrorResponse.safeParse(json);
  if (!failure.success) throw new ServiceError(`the authctl service failed ${path} with HTTP ${response.status}`);
  const { code, message, fixCommand } = failure.data.error;
  if (code === "not_found" && ref && fixCommand) throw new MissingCredentialsError(ref.provider, ref.credentialSet, fixCommand);
  if (code === "refused") throw new DeliveryRefusedError(message);
  if (code === "unauthorized" || code === "forbidden") throw new AccessDeniedError(`authctl service: ${message}`);
  throw new ServiceError(`authctl service: ${message}`);
}

/**
 * How long and how much a client waits for and reads of an answer (both clients). The wait covers
 * a secret command the service runs for a `get` (its own timeout_ms bounds it first).
 */
export const WIRE_LIMITS = { timeoutMs: 15 * 60_000, maxBytes: 32 * 1024 * 1024 } as const;

/** The request options node:http needs for a wire request (shared by both clients). */
export function httpOptions(request: WireRequest) {
  const headers: Record<string, string> = { accept: "application/json" };
  if (request.body !== undefined) headers["content-type"] = "application/json";
  if (request.authorization) headers.authorization = request.authorization;
  return { socketPath: request.socketPath, path: request.path, method: request.body === undefined ? "GET" : "POST", headers, body: request.body };
}

/**
 * Refuses a service socket whose directory is not private to the user: another account could have
 * put its own daemon there first (a shared XDG_RUNTIME_DIR), to collect tokens and signed admin
 * requests and to answer what it likes. The daemon holds its own directory to the same rule.
 */
export function verifyServiceDir(socketPath: string): void {
  const dir = dirname(resolve(socketPath));
  const problem = privateDirProblem(dir);
  if (problem) {
    throw new UntrustedServiceError(
      `refusing the authctl service at ${socketPath}: its directory ${dir} ${problem}, so another account may have put its own daemon there; nothing was sent to it. Remove ${dir} (its owner or root can), or point XDG_RUNTIME_DIR, AUTHCTL_HOME or AUTHCTL_SOCKET at a directory only you can write`,
    );
  }
}

/** Why the daemon's uid is not checked on this machine (the directory rule alone decides then), or undefined when it is. */
export function servicePeerUnchecked(): string | undefined {
  const reader = peerReader();
  return "read" in reader ? undefined : reader.reason;
}

/**
 * Who listens at the other end of `socket`, just connected to `socketPath`: refused unless it runs
 * as the user's own uid or root. Undefined where peer credentials cannot be read (see servicePeerUnchecked).
 */
export function verifyServicePeer(socket: Socket, socketPath: string): PeerCredentials | undefined {
  const reader = peerReader();
  const own = process.getuid?.();
  if (!("read" in reader) || own === undefined) return undefined;
  const peer = reader.read(socket);
  if (!peer) throw new UntrustedServiceError(`refusing the authctl service at ${socketPath}: who serves it could not be read (SO_PEERCRED); nothing was sent to it`);
  if (!sameUserOrRoot(peer, own)) {
    throw new UntrustedServiceError(
      `the authctl service socket ${socketPath} is served by uid ${peer.uid} (pid ${peer.pid}), neither you (uid ${own}) nor root: it is not your daemon, and nothing was sent to it. Stop that process (\`ps -p ${peer.pid}\`) and start your own with \`authctl serve\``,
    );
  }
  return peer;
}

/**
 * node:http's `createConnection` for the service: a request goes out only on a connection whose
 * directory and listener were verified first; `onPeer` learns who that listener is.
 */
export function verifiedConnection(socketPath: string, onPeer?: (peer: PeerCredentials | undefined) => void) {
  return (_options: unknown, done: (error: Error | null, socket: Duplex) => void): undefined => {
    // node:http ignores the socket argument when it is handed an error.
    const fail = (error: unknown) => done(error as Error, undefined as unknown as Duplex);
    try {
      verifyServiceDir(socketPath);
    } catch (error) {
      fail(error);
      return undefined;
    }
    const socket = connect(socketPath);
    socket.once("error", fail);
    socket.once("connect", () => {
      socket.off("error", fail);
      try {
        onPeer?.(verifyServicePeer(socket, socketPath));
        done(null, socket);
      } catch (error) {
        socket.destroy();
        fail(error);
      }
    });
    return undefined;
  };
}
