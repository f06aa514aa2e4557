import { chmodSync, chownSync } from "node:fs";
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
  containerUid: number;
}

export function usernsArgs(engine: Engine, containerUid: number): string[] {
  return engine.rootless ? [`--userns=keep-id:uid=${containerUid},gid=${containerUid}`] : [];
}

/** `<engine> run --rm -i [-t] [userns] [extra] -v <tmp>:<mount>:Z --name <name> <image> <command…>` */
export function buildRunArgv(engine: Engine, o: RunArgvOptions): string[] {
  return [
    engine.binary,
    "run",
    "--rm",
    "-i",
    ...(o.tty ? ["-t"] : []),
    ...usernsArgs(engine, o.containerUid),
    ...(o.extraRunArgs ?? []),
    "-v",
    `${o.hostDir}:${o.containerDir}:Z`,
    "--name",
    o.containerName,
    o.image,
    ...o.command,
  ];
}

/**
 * Makes the session temp dir writable by the image's unprivileged user. Rootful engines map uids
 * 1:1, so root hands the dir to that uid (docker rejects podman's `:U`); rootless podman maps the
 * host user onto it with keep-id, so the dir stays the caller's own.
 */
export function prepareMountDir(dir: string, engine: Engine, containerUid: number): void {
  chmodSync(dir, 0o700);
  if (!engine.rootless && process.getuid?.() === 0) chownSync(dir, containerUid, containerUid);
}
