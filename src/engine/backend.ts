import { apiBackend } from "./api.js";
import { cliBackend } from "./cli.js";
import type { Engine } from "./detect.js";

export interface ContainerFilter {
  /** Only containers whose name starts with this. */
  namePrefix?: string;
  /** `key` or `key=value`, as in `ps --filter label=…`. */
  label?: string;
}

/** The engine operations authctl needs, over the API socket or the engine CLI alike. */
export interface EngineBackend {
  /** Kills at once (no stop grace period) and removes; a missing container is not an error. */
  removeContainer(name: string): Promise<void>;
  containerExists(name: string): Promise<boolean>;
  /** Names of all containers (running or not) matching the filter. */
  listContainers(filter: ContainerFilter): Promise<string[]>;
  imageExists(ref: string): Promise<boolean>;
  /** The image's labels ({} when it has none), or undefined when the engine has no such image. */
  imageLabels(ref: string): Promise<Record<string, string> | undefined>;
}

/** Connection-level failures: the API socket went away after detection. */
const UNREACHABLE = new Set(["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "EACCES"]);

function isUnreachable(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } }).cause;
  return UNREACHABLE.has(String(cause?.code ?? (err as { code?: string }).code));
}

/** API first; when the socket stops answering, the same call through the CLI. */
function withCliFallback(api: EngineBackend, cli: EngineBackend): EngineBackend {
  const wrap =
    <A extends unknown[], R>(call: (b: EngineBackend) => (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(api)(...args);
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        return call(cli)(...args);
      }
    };
  return {
    removeContainer: wrap((b) => b.removeContainer),
    containerExists: wrap((b) => b.containerExists),
    listContainers: wrap((b) => b.listContainers),
    imageExists: wrap((b) => b.imageExists),
    imageLabels: wrap((b) => b.imageLabels),
  };
}

const backends = new Map<string, EngineBackend>();

/** Dockerode over `engine.socketPath` when there is one, else the engine CLI. */
export function backendFor(engine: Engine): EngineBackend {
  const key = JSON.stringify([engine.name, engine.binary, engine.socketPath ?? null, engine.env]);
  let backend = backends.get(key);
  if (!backend) {
    const cli = cliBackend(engine);
    backend = engine.socketPath ? withCliFallback(apiBackend(engine.socketPath), cli) : cli;
    backends.set(key, backend);
  }
  return backend;
}
