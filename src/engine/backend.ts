import Docker from "dockerode";
import { execa } from "execa";
import { EngineError } from "../errors.js";
import type { Engine } from "./detect.js";

/** The engine operations authctl needs, over the API socket or the engine CLI alike. */
export interface EngineBackend {
  removeContainer(name: string): Promise<void>;
  containerExists(name: string): Promise<boolean>;
  listContainers(filter: { namePrefix?: string; label?: string }): Promise<string[]>;
  imageExists(ref: string): Promise<boolean>;
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

function apiBackend(socketPath: string): EngineBackend {
  const docker = new Docker({ socketPath });
  const inspectable = async (inspect: () => Promise<unknown>) => {
    try {
      await inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw new EngineError(`container engine API: ${(err as Error).message}`);
    }
  };
  return {
    async removeContainer(name) {
      const container = docker.getContainer(name);
      try {
        // podman's compat force-remove still waits 10 s for a PID 1 that ignores SIGTERM: SIGKILL first.
        await container.kill({ signal: "SIGKILL" }).catch(() => {});
        await container.remove({ force: true });
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) throw new EngineError(`cannot remove container ${name}: ${(err as Error).message}`);
      }
    },
    containerExists: (name) => inspectable(() => docker.getContainer(name).inspect()),
    imageExists: (ref) => inspectable(() => docker.getImage(ref).inspect()),
    async listContainers({ namePrefix, label }) {
      const all = await docker.listContainers({ all: true, ...(label ? { filters: { label: [label] } } : {}) });
      return all
        .map((c) => (c.Names[0] ?? "").replace(/^\//, ""))
        .filter((n) => !namePrefix || n.startsWith(namePrefix));
    },
  };
}

function cliBackend(binary: string): EngineBackend {
  const run = (args: string[]) => execa(binary, args, { reject: false, stdin: "ignore" });
  const exists = async (args: string[]) => {
    const r = await run(args);
    return r.exitCode === 0;
  };
  return {
    async removeContainer(name) {
      // `-t 0`: do not wait 10 s for a PID 1 that ignores SIGTERM.
      const r = await run(["rm", "-f", "-t", "0", name]);
      if (r.exitCode !== 0 && !/no such container|no container with name/i.test(String(r.stderr))) {
        throw new EngineError(`cannot remove container ${name}: ${String(r.stderr).trim().split("\n").at(-1)}`);
      }
    },
    containerExists: (name) => exists(["container", "inspect", name]),
    imageExists: (ref) => exists(["image", "inspect", ref]),
    async listContainers({ namePrefix, label }) {
      const r = await run(["ps", "-a", "--format", "{{.Names}}", ...(label ? ["--filter", `label=${label}`] : [])]);
      if (r.exitCode !== 0) throw new EngineError(`cannot list containers: ${String(r.stderr).trim()}`);
      return String(r.stdout)
        .split("\n")
        .filter((n) => n && (!namePrefix || n.startsWith(namePrefix)));
    },
  };
}

export function backendFor(engine: Engine): EngineBackend {
  return engine.socketPath ? apiBackend(engine.socketPath) : cliBackend(engine.binary);
}

export const forceRemoveContainer = (engine: Engine, name: string) => backendFor(engine).removeContainer(name);
export const containerExists = (engine: Engine, name: string) => backendFor(engine).containerExists(name);
export const listContainers = (engine: Engine, filter: { namePrefix?: string; label?: string }) =>
  backendFor(engine).listContainers(filter);
export const imageExists = (engine: Engine, ref: string) => backendFor(engine).imageExists(ref);
