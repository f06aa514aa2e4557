import type Docker from "dockerode";
import { EngineError } from "../errors.js";
import type { ContainerFilter, EngineBackend } from "./backend.js";

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).trim();

/** Loaded on first use: dockerode costs ~150 ms to import, detection and argv building need none of it. */
async function connect(socketPath: string): Promise<Docker> {
  const { default: Dockerode } = await import("dockerode");
  return new Dockerode({ socketPath, timeout: 60_000 });
}

/** Docker-compatible API (docker or podman's compat service) through dockerode. */
export function apiBackend(socketPath: string): EngineBackend {
  let client: Promise<Docker> | undefined;
  const docker = () => (client ??= connect(socketPath));
  const failure = (what: string, err: unknown) =>
    new EngineError(`container engine API (${socketPath}): ${what}: ${messageOf(err)}`, { cause: err });

  const found = async (what: string, inspect: () => Promise<unknown>): Promise<boolean> => {
    try {
      await inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw failure(what, err);
    }
  };

  return {
    async removeContainer(name) {
      const container = (await docker()).getContainer(name);
      // podman 4.3's compat DELETE ?force=true still waits the 10 s stop timeout when PID 1 ignores
      // SIGTERM (and takes no timeout parameter): SIGKILL first, then remove.
      try {
        await container.kill({ signal: "SIGKILL" });
      } catch (err) {
        if (statusOf(err) === 404) return;
        // 409 / 500: not running (created, exited, being removed); the remove below decides.
      }
      try {
        await container.remove({ force: true });
      } catch (err) {
        if (statusOf(err) === 404) return; // `--rm` containers remove themselves once killed
        throw failure(`cannot remove container ${name}`, err);
      }
    },
    containerExists: async (name) => found(`inspecting container ${name}`, async () => (await docker()).getContainer(name).inspect()),
    imageExists: async (ref) => found(`inspecting image ${ref}`, async () => (await docker()).getImage(ref).inspect()),
    async listContainers({ namePrefix, label }: ContainerFilter) {
      try {
        const all = await (await docker()).listContainers({ all: true, ...(label ? { filters: { label: [label] } } : {}) });
        return all
          .map((c) => (c.Names?.[0] ?? "").replace(/^\//, ""))
          .filter((n) => n && (!namePrefix || n.startsWith(namePrefix)));
      } catch (err) {
        throw failure("cannot list containers", err);
      }
    },
  };
}
