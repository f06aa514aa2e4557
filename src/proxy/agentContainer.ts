import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, copyFileSync, lchownSync, lstatSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { contextFrom, type Authctl, type WithContext } from "../context.js";
import { UntrustedServiceError, UsageError } from "../core/errors.js";
import { DEFAULT_SET } from "../core/names.js";
import { RemoveTreeError, removeTree } from "../core/removeTree.js";
import { ensurePrivateDir, privateDirProblem } from "../core/paths.js";
import { containerUserFor, prepareMountDir, type ContainerUser } from "../engine/index.js";
import { imageUserOf } from "../roster/schema.js";
import { runningProxy } from "../access/connect.js";
import { proxyClientConfig, proxyClientFor } from "./clientConfig.js";
import { localCa } from "./localCa.js";
import { isSessionId } from "./phantoms.js";
import type { SessionPolicy } from "./policy.js";
import type { ProxyMode } from "./routes.js";

/** Where the session's pieces appear inside the agent container. */
export const AGENT_PATHS = { socket: "/run/authctl/proxy.sock", forwarder: "/opt/authctl/forward.mjs", caCert: "/opt/authctl/proxy-ca.pem" } as const;
const DEFAULT_PORT = 8787;
/** The in-container TCP → Unix socket forwarder (plain node), copied into each session. */
const FORWARDER = fileURLToPath(new URL("../../resources/agent/forward.mjs", import.meta.url));

export interface AgentMount {
  host: string;
  container: string;
  readOnly: boolean;
}

export interface PrepareAgentContainerOptions extends WithContext {
  /** The project the agent works on; also the credential set unless `credentialSet` is given. */
  project?: string;
  credentialSet?: string;
  /** @deprecated spelled `credentialSet`, as in every other entry point. */
  set?: string;
  /** The proxy's Unix socket on the host: the one this home's running daemon reports (the default; any other is refused). */
  socketPath?: string;
  /**
   * Starts this home's daemon when none answers (the CLI spawns `authctl serve`, as `run` does);
   * called only after the provider, set and credential are checked. Without it, no daemon is an error.
   */
  startService?: () => Promise<unknown>;
  /** Default: `agent-<project>-<random>`. Revoke it with `revokeAgentSession` / `authctl proxy revoke`. */
  sessionId?: string;
  /** The port the forwarder listens on inside the container (its own network namespace). */
  port?: number;
  ttlMs?: number;
  /** Narrows the session below the roster's proxy route (stored with its phantoms). */
  policy?: SessionPolicy;
}

export interface AgentContainer {
  sessionId: string;
  provider: string;
  credentialSet: string;
  mode: ProxyMode;
  expiresAt: Date;
  /** `<engine> run` flags (mounts, env file, user namespace): add the image and `command` after them. */
  runArgs: string[];
  /** Prefix for the container's command: starts the forwarder, then runs the rest (e.g. `claude -p hi`). */
  command: string[];
  mounts: AgentMount[];
  /** What the container's environment gets (phantoms and URLs only), also written to `envFile`. */
  env: Record<string, string>;
  envFile: string;
  /** Host dir holding this session's files (config dir, env file, forwarder); removed on revoke. */
  sessionDir: string;
}

/**
 * A proxy socket an agent container may be given: an existing socket (a typo would mount an empty
 * path) in a directory private to the user, so no other account could have put it there or swap it.
 */
function assertSocket(path: string): void {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    // missing: reported below with what to do
  }
  if (!isSocket) throw new UsageError(`${path} is not a proxy socket: start \`authctl proxy serve --socket ${path}\` first`);
  const dir = dirname(resolve(path));
  const problem = privateDirProblem(dir);
  if (problem) throw new UntrustedServiceError(`the proxy socket ${path} is in ${dir}, which ${problem}: authctl mounts into containers only its own daemon's socket, from a directory private to you`);
}

/**
 * The proxy socket of this home's verified daemon (started first when the caller can and named no
 * socket). A `requested` socket must be that one: anything else (the engine's API socket, a socket
 * in another account's directory) would be mounted into the container and handed to its user.
 */
async function daemonProxySocket(context: Authctl, requested: string | undefined, startService: (() => Promise<unknown>) | undefined): Promise<string> {
  let proxy = await runningProxy(context);
  if (!proxy && startService && requested === undefined) {
    await startService();
    proxy = await runningProxy(context);
  }
  if (!proxy) {
    const start = requested === undefined ? "`authctl serve --detach`" : `\`authctl proxy serve --socket ${requested}\``;
    throw new UsageError(`no authctl service is running for this home, and its credential proxy with it: start it with ${start}`);
  }
  if (requested !== undefined && resolve(requested) !== resolve(proxy.socket)) {
    throw new UsageError(
      `${requested} is not the proxy socket of this home's authctl daemon (${proxy.socket}): authctl mounts into containers only its own daemon's socket; drop --socket, or start the daemon on that path with \`authctl proxy serve --socket ${requested}\``,
    );
  }
  assertSocket(proxy.socket);
  return proxy.socket;
}

/**
 * Everything an agent container needs to use a login through the credential proxy without ever
 * holding the real credential: mints phantoms for a new session, writes the vendor's config dir
 * (phantom credential files, settings pointing at the proxy) and an env file under
 * `$AUTHCTL_HOME/agent-sessions/<session>/`, and returns the engine run flags that mount them
 * together with the proxy socket and the in-container forwarder.
 */
export async function prepareAgentContainer(provider: string, options: PrepareAgentContainerOptions = {}): Promise<AgentContainer> {
  const context = contextFrom(options);
  if (options.project !== undefined && !options.project.trim()) throw new UsageError("--project needs a name");
  const set = options.credentialSet ?? options.set;
  const credentialSet = set ?? options.project ?? DEFAULT_SET;
  // What the caller asked for is checked first; only then is a proxy looked for (or started).
  const { entry } = proxyClientFor(provider, { context, credentialSet, project: set === undefined ? options.project : undefined });
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port ${port} must be 1-65535`);
  const configDir = entry.oauth?.container_mount ?? `/home/dev/.${entry.name}`;
  const sessionId = options.sessionId ?? `agent-${credentialSet}-${randomBytes(4).toString("hex")}`;
  if (!isSessionId(sessionId)) throw new UsageError(`session id "${sessionId.slice(0, 40)}" must be 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  const socketPath = await daemonProxySocket(context, options.socketPath, options.startService);

  const sessionDir = join(ensurePrivateDir(context.paths.agentSessions), sessionId);
  try {
    // Not recursive: a reused session id is refused, never overwritten.
    mkdirSync(sessionDir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    throw new UsageError(`agent session ${sessionId} already exists: pick another id, or \`authctl proxy revoke ${sessionId}\` first`);
  }
  try {
    const plan = { context, provider: entry.name, sessionId, sessionDir, credentialSet, socketPath, port, configDir, ttlMs: options.ttlMs, policy: options.policy };
    return writeSession(plan, containerUserFor(await context.engine(), imageUserOf(entry)));
  } catch (error) {
    removeTree(sessionDir);
    throw error;
  }
}

interface SessionPlan {
  context: Authctl;
  provider: string;
  sessionId: string;
  sessionDir: string;
  credentialSet: string;
  socketPath: string;
  port: number;
  configDir: string;
  ttlMs: number | undefined;
  policy: SessionPolicy | undefined;
}

function writeSession(plan: SessionPlan, user: ContainerUser): AgentContainer {
  const { context, sessionId, sessionDir, credentialSet, socketPath, port, configDir } = plan;
  const client = proxyClientConfig(plan.provider, {
    context,
    sessionId,
    credentialSet,
    baseUrl: `http://127.0.0.1:${port}`,
    configDir,
    ttlMs: plan.ttlMs,
    ...(plan.policy ? { policy: plan.policy } : {}),
    caFile: AGENT_PATHS.caCert,
    socketPath: AGENT_PATHS.socket,
  });
  const { owner } = user;
  const hostConfig = join(sessionDir, "config");
  mkdirSync(hostConfig, { mode: 0o700 });
  prepareMountDir(hostConfig, owner);
  for (const [path, text] of Object.entries(client.files)) {
    const inside = relative(configDir, path);
    if (inside.startsWith("..")) throw new UsageError(`${plan.provider}: client file ${path} is outside its config dir ${configDir}`);
    const hostPath = join(hostConfig, inside);
    mkdirSync(dirname(hostPath), { recursive: true, mode: 0o700 });
    writeFileSync(hostPath, text, { mode: 0o600 });
    if (owner !== null) chownSync(hostPath, owner, owner);
  }
  const forwarder = join(sessionDir, "forward.mjs");
  copyFileSync(FORWARDER, forwarder);
  // TLS clients (Codex, ChatGPT mode) get the CA's certificate; its key never leaves the host.
  const caCert = client.caFile && join(sessionDir, "proxy-ca.pem");
  if (caCert) {
    writeFileSync(caCert, localCa({ context }).certificatePem);
    chmodSync(caCert, 0o644);
  }
  // The container user must be able to connect: the sandbox uid on a rootful engine (containerUser).
  if (owner !== null) lchownSync(socketPath, owner, owner); // verified above: our daemon's socket, in our private dir

  const env = { ...client.env, AUTHCTL_PROXY_SOCKET: AGENT_PATHS.socket, AUTHCTL_PROXY_PORT: String(port), AUTHCTL_SESSION: sessionId };
  const envFile = join(sessionDir, "env");
  // Read by the engine on the host, never mounted: phantoms only, but kept private all the same.
  writeFileSync(envFile, Object.entries(env).map(([name, value]) => `${name}=${value}\n`).join(""), { mode: 0o600 });
  const mounts: AgentMount[] = [
    { host: socketPath, container: AGENT_PATHS.socket, readOnly: false },
    { host: forwarder, container: AGENT_PATHS.forwarder, readOnly: true },
    { host: hostConfig, container: configDir, readOnly: false },
    ...(caCert ? [{ host: caCert, container: AGENT_PATHS.caCert, readOnly: true }] : []),
  ];
  const runArgs = [
    ...user.args,
    "--env-file",
    envFile,
    ...mounts.flatMap((m) => ["-v", `${m.host}:${m.container}${m.readOnly ? ":ro" : ""}`]),
  ];
  return {
    sessionId,
    provider: plan.provider,
    credentialSet,
    mode: client.mode,
    expiresAt: client.phantoms.expiresAt,
    runArgs,
    command: ["node", AGENT_PATHS.forwarder],
    mounts,
    env,
    envFile,
    sessionDir,
  };
}

/**
 * Removes a session's files; its phantoms are revoked separately by `revokeSession`, first, so
 * whatever a still running container keeps here grants nothing. That container can swap anything
 * in its config dir for a symlink to a host path, hence removeTree.
 * @throws RemoveTreeError when the container keeps changing the dir: the rest goes on a later call
 */
export function removeAgentSessionFiles(sessionId: string, options: WithContext = {}): boolean {
  if (!isSessionId(sessionId)) return false;
  const dir = join(contextFrom(options).paths.agentSessions, sessionId);
  try {
    return removeTree(dir);
  } catch (error) {
    if (!(error instanceof RemoveTreeError)) throw error;
    const again = `stop its container, then run \`authctl proxy revoke ${sessionId}\` again`;
    throw new RemoveTreeError(dir, `agent session ${sessionId}'s files are only partly removed (${error.message}); its phantoms are revoked, so what is left grants nothing: ${again}`, { cause: error });
  }
}
