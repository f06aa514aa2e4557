import { chmodSync, chownSync } from "node:fs";
import { UsageError } from "../core/errors.js";
import type { ContainerUser } from "./containerUser.js";
import type { Engine } from "./detect.js";

export interface RunArgvOptions {
  image: string;
  command: readonly string[];
  hostDir: string;
  containerDir: string;
  containerName: string;
  extraRunArgs?: readonly string[];
  /** `-t` only when the caller has a terminal, so a piped argv still works. */
  tty: boolean;
  /** Who the container runs as (containerUser): its `--user`/`--userns` flags. */
  user: ContainerUser;
  /**
   * Passed as `-e NAME=value`. The argv is shown in banners and visible in `ps`:
   * plain settings only, never a secret.
   */
  env?: Record<string, string>;
  /** `--label k=v`: how cleanup finds the container again (see SESSION_LABEL). */
  labels?: Record<string, string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function envArgs(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).flatMap(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new UsageError(`invalid environment variable name for the container: ${JSON.stringify(name)}`);
    return ["-e", `${name}=${value}`];
  });
}

/** `<engine> run --rm -i [-t] [user] [-e …] [extra] -v <host>:<container>:Z [--label k=v…] --name <name> <image> <command…>` */
export function buildRunArgv(engine: Engine, o: RunArgvOptions): string[] {
  return [
    engine.binary,
    "run",
    "--rm",
    "-i",
    ...(o.tty ? ["-t"] : []),
    ...o.user.args,
    ...envArgs(o.env),
    ...(o.extraRunArgs ?? []),
    "-v",
    `${o.hostDir}:${o.containerDir}:Z`,
    ...Object.entries(o.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    "--name",
    o.containerName,
    o.image,
    ...o.command,
  ];
}

/**
 * Makes a fresh, caller-owned mount dir private and, where the container runs as another uid
 * (`ContainerUser.owner`), hands it to that uid: rootful engines map uids 1:1 and docker rejects
 * podman's `:U`, so root chowns it itself.
 */
export function prepareMountDir(dir: string, owner: number | null): void {
  chmodSync(dir, 0o700);
  if (owner !== null) chownSync(dir, owner, owner);
}
