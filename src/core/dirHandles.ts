import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync } from "node:fs";
import { AuthctlError } from "./errors.js";
import { errnoCode } from "./regularFile.js";

/**
 * Why handles: a container (or another account) that can write somewhere in a tree can swap a
 * directory for a symlink between authctl checking a path and acting on it, and an action by path
 * then lands in the symlink's target on the host. Node has no openat/mkdirat/renameat, but Linux
 * resolves `/proc/self/fd/<fd>/<name>` inside the directory the descriptor holds, whatever has been
 * renamed since; each directory is opened with O_NOFOLLOW, so a name that became a symlink is
 * refused, never entered.
 */
export const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const FD_DIR = "/proc/self/fd";

/** `name` inside the directory open as `fd` (the directory itself without a name); a Buffer name keeps bytes that are not UTF-8. */
export function pathAt(fd: number, name?: string): string;
export function pathAt(fd: number, name: Buffer): Buffer;
export function pathAt(fd: number, name?: string | Buffer): string | Buffer {
  if (Buffer.isBuffer(name)) return Buffer.concat([Buffer.from(`${FD_DIR}/${fd}/`), name]);
  return name === undefined ? `${FD_DIR}/${fd}` : `${FD_DIR}/${fd}/${name}`;
}

/** False on a system without /proc, where nothing can be done relative to a handle. */
export function hasFdPaths(): boolean {
  return existsSync(FD_DIR);
}

/** A name that should be a directory is a symlink or another kind of file. */
export class NotRealDirError extends AuthctlError {
  constructor(
    readonly entry: string,
    readonly symlink: boolean,
    /** How many levels below the starting directory it is (1: a direct child). */
    readonly depth = 1,
  ) {
    super(`${entry}: ${symlink ? "is a symlink" : "is not a directory"}`);
  }
}

function isSymlink(path: string | Buffer): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Opens the directory at `path` (its last component never followed); null when it is missing. */
export function openDirNoFollow(path: string | Buffer): number | null {
  try {
    return openSync(path, DIR_FLAGS);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return null;
    // O_DIRECTORY makes Linux answer ENOTDIR for a symlink too: lstat tells which, for the message alone.
    if (code === "ELOOP" || code === "ENOTDIR") throw new NotRealDirError(String(path), code === "ELOOP" || isSymlink(path));
    throw err;
  }
}

/**
 * Opens the directory `name` inside the one open as `parentFd`, never following a symlink; with
 * `createMode`, a missing one is made first. Null when it is missing (and not made).
 * @throws NotRealDirError when a symlink or a file is there
 */
export function openDirAt(parentFd: number, name: string, createMode?: number): number | null {
  if (createMode !== undefined) {
    try {
      mkdirSync(pathAt(parentFd, name), { mode: createMode });
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
  }
  try {
    return openDirNoFollow(pathAt(parentFd, name));
  } catch (err) {
    if (err instanceof NotRealDirError) throw new NotRealDirError(name, err.symlink);
    throw err;
  }
}

export interface BeneathOptions {
  /** Makes missing levels with this mode (before the umask) instead of returning null. */
  createMode?: number;
  /** Sees each level's descriptor once it is open (e.g. to fix its owner), before the next level is opened. */
  onOpen?: (fd: number) => void;
}

/**
 * Opens `segments` below the directory open as `rootFd`, one level at a time through handles
 * (a new descriptor for `rootFd` itself when there are none); the caller closes what it returns.
 * Null when a level is missing.
 * @throws NotRealDirError (its depth says which level) when a symlink or a file is in the way
 */
export function openDirBeneath(rootFd: number, segments: readonly string[], options: BeneathOptions = {}): number | null {
  let fd = openDirNoFollow(pathAt(rootFd, "."));
  for (let i = 0; fd !== null && i < segments.length; i++) {
    let next: number | null = null;
    try {
      next = openDirAt(fd, segments[i]!, options.createMode);
      if (next !== null) options.onOpen?.(next);
    } catch (err) {
      if (next !== null) closeSync(next);
      closeSync(fd);
      if (err instanceof NotRealDirError) throw new NotRealDirError(err.entry, err.symlink, i + 1);
      throw err;
    }
    closeSync(fd);
    fd = next;
  }
  return fd;
}
