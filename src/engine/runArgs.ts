import { chmodSync, chownSync } from "node:fs";
import { UsageError } from "../core/errors.js";
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
  /** The image's unprivileged user (owner of `containerDir` inside the container). */
  containerUid: number;
  /**
   * Passed as `-e NAME=value`. The argv is shown in banners and visible in `ps`:
   * plain settings only, never a secret.
   */
  env?: Record<string, string>;
  /** `--label k=v`: how cleanup finds the container again (see SESSION_LABEL). */
  labels?: Record<string, string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Rootless engines: the calling host user must be the one the login runs as (see prepareMountDir).
 * Podman maps it onto the container user (keep-id). Rootless docker has no keep-id: the host user
 * is the container's root, so the login runs as `--user 0:0` (still the unprivileged host user).
 */
export function usernsArgs(engine: Engine, containerUid: number): string[] {
  if (!engine.rootless) return [];
  return engine.name === "podman" ? [`--userns=keep-id:uid=${containerUid},gid=${containerUid}`] : ["--user", "0:0"];
}

function envArgs(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).flatMap(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new UsageError(`invalid environment variable name for the container: ${JSON.stringify(name)}`);
    return ["-e", `${name}=${value}`];
  });
}

/** `<engine> run --rm -i [-t] [userns] [-e …] [extra] -v <host>:<container>:Z [--label k=v…] --name <name> <image> <command…>` */
export function buildRunArgv(engine: Engine, o: RunArgvOptions): string[] {
  return [
    engine.binary,
    "run",
    "--rm",
    "-i",
    ...(o.tty ? ["-t"] : []),
    ...usernsArgs(engine, o.containerUid),
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
 * Makes the (fresh, caller-owned) mount dir private and writable by the container user.
 * Why: rootful podman and docker map uids 1:1, so the image's non-root user (e.g. uid 1000) cannot
 * write a 0700 root-owned dir; podman's `:U` would chown it but docker rejects `:U`, so root chowns
 * it to that uid itself. Rootless podman runs with `--userns=keep-id:uid=N` (usernsArgs), which
 * shows the host user's files as owned by uid N inside, so the dir stays the caller's own; rootless
 * docker runs the login as the container's root, which is the host user, likewise.
 * A non-root caller of a rootful engine cannot chown: it works when its uid equals containerUid.
 */
export function prepareMountDir(dir: string, engine: Engine, containerUid: number): void {
  chmodSync(dir, 0o700);
  const owner = mountOwner(engine, containerUid);
  if (owner !== null) chownSync(dir, owner, owner);
}

/**
 * The uid (and gid) a host dir and its files must belong to for the container user to use them
 * (see prepareMountDir), or null when they stay the caller's: a rootless engine runs the container
 * user as the caller (usernsArgs), and a non-root caller cannot chown.
 */
export function mountOwner(engine: Engine, containerUid: number): number | null {
  const root = process.getuid?.() === 0;
  return root && !engine.rootless ? containerUid : null;
}
