import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Engine } from "./detect.js";

/** containers.conf's files, lowest precedence first; CONTAINERS_CONF replaces them all. */
function containersConfFiles(env: Record<string, string>): string[] {
  if (env.CONTAINERS_CONF) return [env.CONTAINERS_CONF];
  const dropIns = (dir: string) => {
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith(".conf"))
        .map((f) => join(dir, f));
    } catch {
      return [];
    }
  };
  const user = env.XDG_CONFIG_HOME ?? (env.HOME && join(env.HOME, ".config"));
  return [
    "/usr/share/containers/containers.conf",
    "/etc/containers/containers.conf",
    ...dropIns("/etc/containers/containers.conf.d"),
    ...(user ? [join(user, "containers/containers.conf"), ...dropIns(join(user, "containers/containers.conf.d"))] : []),
  ];
}

/** Any `remote = true` counts, whatever its table: a false "remote" only costs a login its fast path. */
function confSaysRemote(env: Record<string, string>): boolean {
  return containersConfFiles(env).some((file) => {
    try {
      return /^\s*remote\s*=\s*true\b/m.test(readFileSync(file, "utf8"));
    } catch {
      return false;
    }
  });
}

/**
 * True when the engine CLI creates a container itself rather than asking a service to: podman
 * without a remote connection. Then once the client has exited, nothing can still create the
 * container, so a login may `run` it in one process and remove whatever a stop left afterwards.
 * docker (and podman talking to a service) hands the create to a daemon that finishes it even
 * when the client dies mid-request: a login there creates first, then starts.
 */
export function clientCreatesContainers(engine: Engine): boolean {
  if (engine.name !== "podman" || basename(engine.binary).includes("remote")) return false;
  const { env } = engine;
  return !env.CONTAINER_HOST && !env.CONTAINER_CONNECTION && !confSaysRemote(env);
}
