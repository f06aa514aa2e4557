import { chmodSync, existsSync, lstatSync, readFileSync, rmSync, writeFileSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { connectService, serviceLocation } from "../access/connect.js";
import type { Authctl } from "../context.js";
import { holdSignal } from "../core/abort.js";
import { ServiceError, UnsafeDirectoryError } from "../core/errors.js";
import { ensurePrivateDir, privateDirProblem } from "../core/paths.js";
import { removeStaleSocket } from "../proxy/server.js";
import { processAlive } from "../store/lease.js";
import type { ProxyAddress } from "../access/protocol.js";
import type { PeerCheckState } from "./peer.js";
import { mountProxy, type DaemonProxy, type DaemonProxyOptions } from "./proxyMount.js";
import { createServiceServer, type ServiceServer, type ServiceServerOptions } from "./server.js";

// Where a client finds the service and how it connects live with the client (access/), so the proxy
// can find its daemon without importing the server.
export { connectService, runningProxy, serviceLocation } from "../access/connect.js";

const MAX_SOCKET_PATH = 107;

/**
 * Where the daemon may listen: a path a socket fits in, in a directory private to the user (the
 * rule its clients check: a missing one is made 0700, a symlink is refused), and holding nothing
 * but a socket, which a dead daemon left. Anything else there is refused, never deleted.
 */
function assertSocketPlace(path: string): void {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new ServiceError(`the socket path ${path} is longer than a Unix socket allows (${MAX_SOCKET_PATH} bytes): set AUTHCTL_SOCKET (or the proxy socket) to a shorter path`);
  }
  const dir = ensurePrivateDir(dirname(resolve(path)));
  const problem = privateDirProblem(dir);
  if (problem) throw new UnsafeDirectoryError(`the socket ${path} would be in ${dir}, which ${problem}: clients trust only a daemon in a private directory of yours; set AUTHCTL_SOCKET (or --proxy-socket) to a path in one`);
  let existing: Stats | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    // absent: the usual case
  }
  if (existing && !existing.isSocket()) {
    throw new ServiceError(`${path} exists and is not a socket: authctl does not delete it to listen there; set AUTHCTL_SOCKET (or --proxy-socket) to another path, or move the file away`);
  }
}

/** The pid of the daemon serving this home, if one is running. */
export function runningDaemonPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isSafeInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}

/** Takes the one-daemon-per-home lock (a pid file created exclusively); a dead holder's is taken over. */
function acquireLock(pidFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(pidFile, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return () => rmSync(pidFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = runningDaemonPid(pidFile);
      if (holder !== undefined) {
        throw new ServiceError(`an authctl service is already running for this home (pid ${holder}), serving the credential proxy too (\`authctl serve status\`); stop it with \`authctl serve stop\``);
      }
      rmSync(pidFile, { force: true }); // stale: its daemon died without cleaning up
    }
  }
  throw new ServiceError(`could not take the service lock ${pidFile}: another daemon is starting; retry`);
}

export interface StartServiceOptions {
  context: Authctl;
  signal?: AbortSignal;
  /** Exit after this long without requests, live tokens, open proxy connections or live phantoms (on-demand daemons). */
  idleExitMs?: number;
  /** The credential proxy served beside the service (always; these choose where). */
  proxy?: DaemonProxyOptions;
  /** Told once both sockets accept connections: where the proxy listens, whether callers' uids are checked. */
  onListening?: (socketPath: string, started: ServiceStarted) => void;
  peerCheck?: ServiceServerOptions["peerCheck"];
  /** Lets a caller mount more routes before it listens. */
  configure?: (service: ServiceServer) => void;
}

export interface ServiceStarted {
  /** Disabled where the optional native helper (koffi) is missing: then the token is the only line. */
  peerCheck: PeerCheckState;
  /** Where the credential proxy of the same daemon listens. */
  proxy: ProxyAddress;
}

/** Runs the service until the signal aborts, an admin asks it to stop, or it idles out. */
export async function runService(options: StartServiceOptions): Promise<void> {
  const { context } = options;
  ensurePrivateDir(context.home);
  const { dir, socketPath, pidFile, proxySocketPath: defaultProxySocket } = serviceLocation(context);
  // Absolute: clients compare it with the socket they were told to mount.
  const proxySocketPath = resolve(options.proxy?.socketPath ?? defaultProxySocket);
  ensurePrivateDir(dir);
  for (const path of [socketPath, proxySocketPath]) assertSocketPlace(path);
  const release = acquireLock(pidFile);
  let service: ServiceServer | undefined;
  let proxy: DaemonProxy | undefined;
  try {
    // We hold the lock, so a socket left here belongs to a daemon that died (SIGKILL).
    removeStaleSocket(socketPath);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    // An admin's shutdown stops only after its answer went out (the answer waits on its audit line).
    const onShutdown = () => service?.audit.whenWritten(() => setImmediate(stop));
    service = createServiceServer({ context, onShutdown, proxyAddress: () => proxy?.address, ...(options.peerCheck ? { peerCheck: options.peerCheck } : {}) });
    options.configure?.(service);
    // The proxy first: a client that finds the service (health) finds the proxy listening too.
    proxy = await mountProxy(context, service.audit, proxySocketPath, options.proxy);
    const server = service.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    chmodSync(socketPath, 0o600);
    options.onListening?.(socketPath, { peerCheck: service.peerCheck, proxy: proxy.address });
    const unhold = holdSignal(options.signal, () => stop());
    const idle = options.idleExitMs;
    const idleFor = (ms: number) => service!.idleMs() >= ms && proxy!.idleMs() >= ms && service!.tokens.size === 0 && !proxy!.inUse();
    const timer = idle
      ? setInterval(() => {
          // A home deleted under it (a test's temp dir) leaves nothing to serve.
          if (!existsSync(socketPath) || idleFor(idle)) stop();
        }, Math.min(idle, 5_000))
      : undefined;
    await stopped;
    unhold();
    if (timer) clearInterval(timer);
  } finally {
    await proxy?.close();
    await service?.close();
    removeStaleSocket(socketPath);
    if (proxy) removeStaleSocket(proxySocketPath);
    release();
  }
}

