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

/**
 * Kills and removes every container carrying `label` (`key=value`) and returns once none is left;
 * returns how many there were at first. Each remove waits until its container is gone (see
 * `forceRemoveContainer`); the list is read again after, because an engine finishing a create that
 * was in flight when the login stopped can add one late.
 */
export async function removeLabelledContainers(engine: Engine, label: string): Promise<number> {
  const first = await listContainers(engine, { label });
  const deadline = Date.now() + GONE_WITHIN_MS;
  for (let names = first; names.length > 0; names = await listContainers(engine, { label })) {
    if (names !== first && Date.now() > deadline) throw new EngineError(`containers ${names.join(", ")} (${label}) are still there after being removed`);
    for (const name of names) await forceRemoveContainer(engine, name);
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

/** The label an image built from images/<key> carries: the vendor CLIs on its PATH, comma-separated. */
export const CLIS_LABEL = "io.authctl.clis";

/**
 * The image's labels ({} when it has none), or undefined when the engine has no such image:
 * presence and labels in one engine call.
 */
export function imageLabels(engine: Engine, ref: string): Promise<Record<string, string> | undefined> {
  return backendFor(engine).imageLabels(ref);
}

/** The CLIs an image says it carries (its `io.authctl.clis` label), or undefined when it does not say (an image authctl did not build). */
export function clisOf(labels: Record<string, string>): string[] | undefined {
  const list = labels[CLIS_LABEL];
  return list === undefined ? undefined : list.split(",").map((c) => c.trim()).filter(Boolean);
}
