import { EngineError } from "../core/errors.js";
import { backendFor, type ContainerFilter } from "./backend.js";
import type { Engine } from "./detect.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a removed container may take to disappear (docker finishes a killed `--rm` container's own removal asynchronously). */
const GONE_WITHIN_MS = 10_000;

/**
 * Kills (no 10 s stop grace) and removes the container, and returns once it is gone. Idempotent:
 * a missing container is fine. A killed `--rm` container is removed by the engine itself, and
 * while that removal runs our remove may be refused or return early: done means gone.
 */
export async function forceRemoveContainer(engine: Engine, name: string): Promise<void> {
  const backend = backendFor(engine);
  let failure: unknown;
  try {
    await backend.removeContainer(name);
  } catch (err) {
    failure = err;
  }
  for (const deadline = Date.now() + GONE_WITHIN_MS; Date.now() < deadline; await sleep(100)) {
    if (!(await backend.containerExists(name).catch(() => true))) return;
  }
  throw failure ?? new EngineError(`container ${name} was removed but is still listed ${GONE_WITHIN_MS / 1000} s later`);
}

/**
 * The label on every container authctl starts: `io.authctl.session=<container name>`. Cleanup
 * removes by this label only, so a user's container that merely has a similar name is never touched.
 */
export const SESSION_LABEL = "io.authctl.session";

const GONE_WAIT_MS = 5_000;

/**
 * Kills and removes every container carrying `label` (`key=value`) and returns once none is listed
 * any more; returns how many there were. Why wait: a `--rm` container that was just killed can
 * still be listed while the engine's own auto-removal runs, and a remove call may answer before
 * that ends (docker: "removal in progress"; podman: its cleanup process).
 */
export async function removeLabelledContainers(engine: Engine, label: string): Promise<number> {
  const first = await listContainers(engine, { label });
  const seen = new Set(first);
  let names = first;
  const deadline = Date.now() + GONE_WAIT_MS;
  while (names.length > 0) {
    for (const name of names) await forceRemoveContainer(engine, name).catch(() => {}); // judged by the checks below
    // A container whose removal is under way can drop out of a label-filtered list before it is
    // gone; inspecting it by name still finds it.
    const listed = await listContainers(engine, { label });
    for (const name of listed) seen.add(name);
    const present = await Promise.all([...seen].map(async (n) => ((await containerExists(engine, n).catch(() => true)) ? n : undefined)));
    names = [...new Set([...listed, ...present.filter((n): n is string => n !== undefined)])];
    if (names.length === 0) break;
    if (Date.now() > deadline) throw new EngineError(`containers ${names.join(", ")} (${label}) are still there after being removed`);
    await sleep(100);
  }
  return first.length;
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
