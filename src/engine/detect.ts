import { accessSync, constants, readFileSync, realpathSync, statSync } from "node:fs";
import { request } from "node:http";
import { homedir } from "node:os";
import { basename, delimiter, join, resolve } from "node:path";
import type { Env } from "../core/env.js";
import { NoEngineError } from "../core/errors.js";
import { httpCall, unixConnection } from "../core/http.js";
import { engineEnv } from "./env.js";

export type EngineName = "podman" | "docker";

export interface Engine {
  name: EngineName;
  /** Absolute path of the engine CLI. */
  binary: string;
  /** A Docker-compatible API socket of this same engine that answered `_ping`, if any. */
  socketPath?: string;
  /** Rootless podman and rootless docker map the container user differently (see runArgs.ts). */
  rootless: boolean;
  /** The environment every engine CLI process gets (engineEnv): never authctl's secrets. */
  env: Record<string, string>;
}

const INSTALL_HINT =
  "install one of them: `apt-get install podman` (Debian/Ubuntu) " +
  "or Docker Engine (https://docs.docker.com/engine/install/)";

const PING_TIMEOUT_MS = 300;

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function which(name: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = resolve(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Which engine a binary given by path is: by its name, else by the name of what it links to. */
function engineNameOf(binary: string): EngineName | undefined {
  const names = [basename(binary)];
  try {
    names.push(basename(realpathSync(binary)));
  } catch {
    /* keep the given name */
  }
  for (const n of names) {
    if (n.includes("podman")) return "podman";
    if (n.includes("docker")) return "docker";
  }
  return undefined;
}

function resolveBinary(env: Env): { name: EngineName; binary: string } {
  const wanted = env.AUTHCTL_ENGINE?.trim();
  if (!wanted) {
    for (const name of ["podman", "docker"] as const) {
      const binary = which(name, env);
      if (binary) return { name, binary };
    }
    throw new NoEngineError(`no container engine found: neither podman nor docker is on PATH; ${INSTALL_HINT}`);
  }
  if (wanted === "podman" || wanted === "docker") {
    const binary = which(wanted, env);
    if (!binary) throw new NoEngineError(`AUTHCTL_ENGINE=${wanted}, but ${wanted} is not on PATH; ${INSTALL_HINT}`);
    return { name: wanted, binary };
  }
  if (!wanted.includes("/")) {
    throw new NoEngineError(`AUTHCTL_ENGINE=${wanted} is not supported: use podman, docker or the path of one of them; ${INSTALL_HINT}`);
  }
  const binary = resolve(wanted);
  if (!isExecutableFile(binary)) {
    throw new NoEngineError(`AUTHCTL_ENGINE=${wanted} is not an executable file; ${INSTALL_HINT}`);
  }
  const name = engineNameOf(binary);
  if (!name) {
    throw new NoEngineError(`AUTHCTL_ENGINE=${wanted}: cannot tell whether it is podman or docker (its file name names neither)`);
  }
  return { name, binary };
}

interface Pong {
  ok: boolean;
  /** Podman's API answers with a `Libpod-Api-Version` header, docker's does not. */
  libpod: boolean;
  /** Why the connection failed (ENOENT, ECONNREFUSED, EACCES…); undefined when it answered or hung. */
  code?: string;
}

/** `GET /_ping` with a hard deadline: a dead or hung socket costs at most `timeoutMs`. */
function ping(socketPath: string, timeoutMs = PING_TIMEOUT_MS): Promise<Pong> {
  return new Promise((done) => {
    const req = request({ socketPath, path: "/_ping", method: "GET", createConnection: unixConnection(socketPath) }, (res) => {
      clearTimeout(timer);
      res.resume();
      done({ ok: res.statusCode === 200, libpod: res.headers["libpod-api-version"] !== undefined });
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, libpod: false });
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done({ ok: false, libpod: false, code: err.code });
    });
    req.end();
  });
}

/** `GET <path>` on the socket, parsed as JSON; undefined on any failure or after `timeoutMs`. */
async function getJson(socketPath: string, path: string, timeoutMs: number): Promise<unknown> {
  try {
    const reply = await httpCall({ socketPath, path, timeoutMs, maxBytes: 1024 * 1024 });
    return reply.status === 200 ? JSON.parse(reply.body) : undefined;
  } catch {
    return undefined;
  }
}

const INFO_TIMEOUT_MS = 3_000;

/**
 * Rootless docker lists `name=rootless` among `docker info`'s security options: asked over the
 * socket when there is one, else (rare: a CLI-only docker) through the CLI.
 */
async function dockerIsRootless(binary: string, socketPath: string | undefined, env: Record<string, string>): Promise<boolean> {
  let options: unknown;
  if (socketPath) {
    options = ((await getJson(socketPath, "/info", INFO_TIMEOUT_MS)) as { SecurityOptions?: unknown } | undefined)?.SecurityOptions;
  } else {
    const { execFile } = await import("node:child_process");
    options = await new Promise((done) => {
      execFile(binary, ["info", "--format", "{{json .SecurityOptions}}"], { timeout: INFO_TIMEOUT_MS, env }, (err, stdout) => {
        try {
          done(err ? undefined : JSON.parse(String(stdout)));
        } catch {
          done(undefined);
        }
      });
    });
  }
  return Array.isArray(options) && options.some((o) => typeof o === "string" && /(^|,)name=rootless(,|$)/.test(o));
}

function unixPath(url: string | undefined): string | undefined {
  return url?.startsWith("unix://") ? url.slice("unix://".length) : undefined;
}

/** True unless the docker CLI is switched to a non-default context (then it may talk elsewhere). */
function dockerUsesDefaultContext(env: Env): boolean {
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT === "default";
  const configDir = env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), ".docker");
  try {
    const config = JSON.parse(readFileSync(join(configDir, "config.json"), "utf8")) as { currentContext?: unknown };
    return !config.currentContext || config.currentContext === "default";
  } catch {
    return true;
  }
}

/**
 * The socket the engine CLI itself will talk to, when it needs one: docker always (DOCKER_HOST,
 * else the default socket), podman only when CONTAINER_HOST makes it a remote client.
 */
function daemonSocket(name: EngineName, env: Env): { path: string; from: string } | undefined {
  if (name === "podman") {
    const path = unixPath(env.CONTAINER_HOST);
    return path ? { path, from: `CONTAINER_HOST=${env.CONTAINER_HOST}` } : undefined;
  }
  if (env.DOCKER_HOST) {
    const path = unixPath(env.DOCKER_HOST);
    return path ? { path, from: `DOCKER_HOST=${env.DOCKER_HOST}` } : undefined;
  }
  return dockerUsesDefaultContext(env) ? { path: "/var/run/docker.sock", from: "the default socket; DOCKER_HOST is not set" } : undefined;
}

/**
 * Sockets that reach the same containers and images as the engine CLI would. docker's CLI obeys
 * DOCKER_HOST (a non-unix DOCKER_HOST means: CLI only). Podman's CLI uses its local storage, so
 * any socket must be a podman service of this same user.
 */
function socketCandidates(name: EngineName, env: Env): string[] {
  if (name === "docker") {
    const daemon = daemonSocket(name, env);
    return daemon ? [daemon.path] : [];
  }
  const own = process.getuid?.() === 0 ? "/run/podman/podman.sock" : env.XDG_RUNTIME_DIR && join(env.XDG_RUNTIME_DIR, "podman/podman.sock");
  return [unixPath(env.CONTAINER_HOST), unixPath(env.DOCKER_HOST), own || undefined].filter((p): p is string => Boolean(p));
}

function ownedByMe(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isSocket() && (process.getuid === undefined || st.uid === process.getuid());
  } catch {
    return false;
  }
}

async function findSocket(name: EngineName, env: Env): Promise<string | undefined> {
  const candidates = [...new Set(socketCandidates(name, env))].filter((p) => (name === "podman" ? ownedByMe(p) : true));
  // Ping all at once; the first candidate (in preference order) that answers as this engine wins.
  const pongs = await Promise.all(candidates.map((p) => ping(p)));
  return candidates.find((_, i) => pongs[i]!.ok && (name === "docker" || pongs[i]!.libpod));
}

/** Connection errors that mean nobody serves the socket (a slow daemon only times out, and is left to the CLI). */
const NOBODY_THERE: Record<string, string> = {
  ENOENT: "the socket does not exist",
  ECONNREFUSED: "nothing listens on it",
  EACCES: "permission denied",
};

function howToStart(name: EngineName, socket: string): string {
  return name === "docker"
    ? "start the daemon (`sudo systemctl start docker`, or run `dockerd`), or point DOCKER_HOST at one that runs"
    : `start the service (\`systemctl${process.getuid?.() === 0 ? "" : " --user"} start podman.socket\`, or \`podman system service --time=0 unix://${socket}\`), or unset CONTAINER_HOST to use podman without one`;
}

/**
 * Fails fast, as "no container engine", when the engine CLI could only reach a daemon and none is
 * there: otherwise every later engine call fails on its own, slowly, with the CLI's words.
 * @throws NoEngineError naming the engine, the socket tried and how to start it
 */
async function requireDaemon(name: EngineName, socket: { path: string; from: string }, env: Env): Promise<void> {
  const { code } = await ping(socket.path);
  const why = code && NOBODY_THERE[code];
  if (!why) return;
  const what = name === "docker" ? "docker daemon" : "podman service";
  const who = env.AUTHCTL_ENGINE?.trim() ? `AUTHCTL_ENGINE=${env.AUTHCTL_ENGINE.trim()}, but` : `${name} was found on PATH, but`;
  throw new NoEngineError(`${who} no ${what} answers at ${socket.path} (${socket.from}; ${why}): ${howToStart(name, socket.path)}`);
}

const cache = new Map<string, Promise<Engine>>();

/**
 * The container engine to use: `AUTHCTL_ENGINE` (podman, docker or a path) overrides, else podman
 * on PATH, then docker. PATH lookup plus at most a few 300 ms-bounded `_ping`s; for docker also
 * `GET /info` (rootless?), or `docker info` when no socket answers.
 * Cached per process and environment (`resetEngineCache` for tests).
 * @throws NoEngineError (exit 4) naming both engines and how to install one, or the daemon socket
 *   that nobody serves and how to start it
 */
export function detectEngine(env: Env): Promise<Engine> {
  const childEnv = engineEnv(env);
  const key = JSON.stringify([env.AUTHCTL_ENGINE, childEnv]);
  let found = cache.get(key);
  if (!found) {
    found = (async (): Promise<Engine> => {
      const { name, binary } = resolveBinary(env);
      const socketPath = await findSocket(name, env);
      const daemon = daemonSocket(name, env);
      if (daemon && daemon.path !== socketPath) await requireDaemon(name, daemon, env);
      return {
        name,
        binary,
        ...(socketPath ? { socketPath } : {}),
        rootless: name === "podman" ? process.getuid?.() !== 0 : await dockerIsRootless(binary, socketPath, childEnv),
        env: childEnv,
      };
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}

/** Forgets cached detections (tests, or after the engine was installed/started). */
export function resetEngineCache(): void {
  cache.clear();
}
