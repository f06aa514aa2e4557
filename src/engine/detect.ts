import { accessSync, constants, existsSync } from "node:fs";
import { request } from "node:http";
import { delimiter, isAbsolute, join } from "node:path";
import { NoEngineError } from "../errors.js";

export type EngineName = "podman" | "docker";

export interface Engine {
  name: EngineName;
  /** Absolute path of the engine CLI. */
  binary: string;
  /** A Docker-compatible API socket that answered `_ping`, if any. */
  socketPath?: string;
  /** Rootless podman maps the container user differently (see runArgs.ts). */
  rootless: boolean;
}

const INSTALL_HINT =
  "install one: `sudo apt-get install podman` (Debian/Ubuntu; see scripts/setup-container-engine.sh) or Docker Engine (https://docs.docker.com/engine/install/)";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function ping(socketPath: string, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function socketCandidates(name: EngineName, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = [env.DOCKER_HOST, env.CONTAINER_HOST]
    .filter((h): h is string => Boolean(h?.startsWith("unix://")))
    .map((h) => h.slice("unix://".length));
  if (name === "docker") return [...fromEnv, "/var/run/docker.sock"];
  const rootless = env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, "podman/podman.sock")] : [];
  return [...fromEnv, ...(process.getuid?.() === 0 ? ["/run/podman/podman.sock"] : rootless)];
}

async function findSocket(name: EngineName, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const path of socketCandidates(name, env)) {
    if (existsSync(path) && (await ping(path))) return path;
  }
  return undefined;
}

function nameOf(binary: string): EngineName {
  return binary.endsWith("docker") ? "docker" : "podman";
}

function resolveBinary(env: NodeJS.ProcessEnv): string {
  const wanted = env.AUTHCTL_ENGINE?.trim();
  if (wanted) {
    const path = isAbsolute(wanted) ? (isExecutable(wanted) ? wanted : undefined) : which(wanted, env);
    if (!path) throw new NoEngineError(`AUTHCTL_ENGINE=${wanted} is not an executable container engine (podman or docker); ${INSTALL_HINT}`);
    return path;
  }
  const found = which("podman", env) ?? which("docker", env);
  if (!found) throw new NoEngineError(`no container engine found: neither podman nor docker is on PATH; ${INSTALL_HINT}`);
  return found;
}

const cache = new Map<string, Promise<Engine>>();

/** Podman first, then docker; `AUTHCTL_ENGINE` (a name or a path) overrides. Cached per process. */
export function detectEngine(env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  const key = [env.AUTHCTL_ENGINE, env.PATH, env.DOCKER_HOST, env.CONTAINER_HOST].join("\0");
  let found = cache.get(key);
  if (!found) {
    found = (async () => {
      const binary = resolveBinary(env);
      const name = nameOf(binary);
      const socketPath = await findSocket(name, env);
      return { name, binary, socketPath, rootless: name === "podman" && process.getuid?.() !== 0 };
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}

export function resetEngineCache(): void {
  cache.clear();
}
