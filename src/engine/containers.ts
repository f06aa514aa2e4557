import { backendFor, type ContainerFilter } from "./backend.js";
import type { Engine } from "./detect.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Kills (no 10 s stop grace) and removes the container. Idempotent: a missing container is fine.
 * A remove that races the engine's own `--rm` cleanup counts as done once the container is gone.
 */
export async function forceRemoveContainer(engine: Engine, name: string): Promise<void> {
  const backend = backendFor(engine);
  try {
    await backend.removeContainer(name);
  } catch (err) {
    for (let i = 0; i < 30; i++) {
      if (!(await backend.containerExists(name).catch(() => true))) return;
      await sleep(100);
    }
    throw err;
  }
}

/**
 * The label on every container authctl starts: `io.authctl.session=<container name>`. Cleanup
 * removes by this label only, so a user's container that merely has a similar name is never touched.
 */
export const SESSION_LABEL = "io.authctl.session";

/** Kills and removes every container carrying `label` (`key=value`); returns how many there were. */
export async function removeLabelledContainers(engine: Engine, label: string): Promise<number> {
  const names = await listContainers(engine, { label });
  for (const name of names) await forceRemoveContainer(engine, name);
  return names.length;
}

export function containerExists(engine: Engine, name: string): Promise<boolean> {
  return backendFor(engine).containerExists(name);
}

/** Names of containers (running or not) by name prefix and/or label. */
export function listContainers(engine: Engine, filter: ContainerFilter = {}): Promise<string[]> {
  return backendFor(engine).listContainers(filter);
}

export function imageExists(engine: Engine, ref: string): Promise<boolean> {
  return backendFor(engine).imageExists(ref);
}
