import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync, readdirSync, renameSync, rmdirSync, unlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import { DIR_FLAGS, hasFdPaths, NotRealDirError, openDirBeneath, openDirNoFollow, pathAt } from "./dirHandles.js";
import { AuthctlError } from "./errors.js";
import { errnoCode } from "./regularFile.js";

/** A tree (or a file in one) that was not removed in full; `path` names what is left. */
export class RemoveTreeError extends AuthctlError {
  constructor(
    readonly path: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${problem}`, options);
  }
}

/** A writer that keeps adding entries (a container still running) makes a directory refuse rmdir; retries across the whole removal. */
const RETRIES = 16;
/**
 * One descriptor is open per level: what lies deeper is moved up into the tree's own directory and
 * removed from there on its next round, so any depth goes with a bounded number of descriptors.
 */
const MAX_DEPTH = 256;
/** Rounds of the tree's own directory spent on what was moved up (about MAX_DEPTH levels each). */
const DEEP_ROUNDS = 4096;
/**
 * Entries one removal takes, once it has seen the tree change under it, before it gives up. A
 * container that keeps writing can add names faster than they are unlinked, so each round lists
 * more than the last: without a bound, a few busy writers kept `proxy revoke` unlinking
 * (synchronously, its event loop held) for over twenty minutes and gigabytes of listings. Until a
 * change is seen nothing is counted: a big tree that nothing writes to any more (what those writers
 * left once their container stopped) goes in one pass, however many entries it has.
 */
export const MAX_REFILL_ENTRIES = 100_000;

/** Every directory is entered through a handle (see dirHandles): a name that became a symlink is unlinked, never entered. */
const at = (fd: number, name?: Buffer): Buffer => (name ? pathAt(fd, name) : Buffer.from(pathAt(fd)));

function assertFdPaths(path: string): void {
  if (!hasFdPaths()) {
    throw new RemoveTreeError(path, "not removed: this system has no /proc/self/fd, which authctl needs to delete without following symlinks a container may plant; remove it by hand once no container uses it");
  }
}

function failure(shown: string, err: unknown): RemoveTreeError {
  if (err instanceof RemoveTreeError) return err;
  return new RemoveTreeError(shown, `could not be removed (${errnoCode(err) ?? String(err)})`, { cause: err });
}

interface Removal {
  retriesLeft: number;
  /** Entries still allowed once `changed`. */
  entriesLeft: number;
  /** Something was added or swapped while the tree was being removed. */
  changed: boolean;
  deepRoundsLeft: number;
  /** The tree's own directory while it is listed: where entries past MAX_DEPTH are moved. */
  rootFd?: number;
  /** Entries moved up since the tree's directory was last listed. */
  movedUp: number;
}

function moveUp(fd: number, name: Buffer, shown: string, removal: Removal): void {
  try {
    renameSync(at(fd, name), at(removal.rootFd!, Buffer.from(`.authctl-deep-${randomBytes(8).toString("hex")}`)));
    removal.movedUp++;
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw failure(shown, err);
  }
}

function spendRetry(removal: Removal, shown: string, cause: unknown): void {
  removal.changed = true;
  if (removal.retriesLeft-- <= 0) throw new RemoveTreeError(shown, "not removed: something keeps changing it (a container that still runs?)", { cause });
}

/** Removes `name` in the directory open as `parentFd`; false when nothing was there. */
function removeEntry(parentFd: number, name: Buffer, shown: string, depth: number, removal: Removal): boolean {
  const path = at(parentFd, name);
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, DIR_FLAGS);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return false;
      if (code !== "ELOOP" && code !== "ENOTDIR") throw failure(shown, err);
      try {
        // A symlink or a file: its own name goes, nothing it points at.
        unlinkSync(path);
        return true;
      } catch (unlinkErr) {
        const again = errnoCode(unlinkErr);
        if (again === "ENOENT") return true;
        // Turned into a directory meanwhile: open it on the next round.
        if (again !== "EISDIR") throw failure(shown, unlinkErr);
        spendRetry(removal, shown, unlinkErr);
      }
      continue;
    }
    if (depth === 0) removal.rootFd = fd;
    try {
      for (const child of readdirSync(at(fd), { encoding: "buffer" })) {
        const childShown = `${shown}/${child.toString()}`;
        if (removal.changed && removal.entriesLeft-- <= 0) {
          throw new RemoveTreeError(shown, `not removed: something keeps adding to it (over ${MAX_REFILL_ENTRIES} entries appeared while it was being removed; a container that still runs?)`);
        }
        if (depth >= MAX_DEPTH) moveUp(fd, child, childShown, removal);
        else removeEntry(fd, child, childShown, depth + 1, removal);
      }
    } finally {
      closeSync(fd);
    }
    try {
      rmdirSync(path);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return true;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOTDIR") throw failure(shown, err);
      if (depth === 0 && removal.movedUp > 0 && removal.deepRoundsLeft-- > 0) {
        removal.movedUp = 0;
        continue;
      }
      // Refilled, or swapped for something else, since it was emptied.
      spendRetry(removal, shown, err);
    }
  }
}

/**
 * Removes the directory tree (or file) at `path` without ever following a symlink below its parent,
 * which the caller owns: safe while a container or another account can still change the tree.
 * Entries that vanish meanwhile are fine. Returns false when nothing was there.
 * @throws RemoveTreeError naming what is left: an entry that keeps being refilled, one that cannot
 * be removed, or a system without /proc
 */
export function removeTree(path: string): boolean {
  assertFdPaths(path);
  let parentFd: number;
  try {
    parentFd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw failure(path, err);
  }
  try {
    return removeEntry(parentFd, Buffer.from(basename(path)), path, 0, { retriesLeft: RETRIES, entriesLeft: MAX_REFILL_ENTRIES, changed: false, deepRoundsLeft: DEEP_ROUNDS, movedUp: 0 });
  } finally {
    closeSync(parentFd);
  }
}

/**
 * Unlinks the file `root/segments…` through directory handles, never following a symlink below
 * `root` (nor `root` itself). Returns false when it (or a directory above it) is not there.
 * @throws RemoveTreeError when a directory on the way is a symlink or a file, or the target is a directory
 */
export function unlinkBeneath(root: string, segments: readonly string[]): boolean {
  assertFdPaths(root);
  const dirs = segments.slice(0, -1);
  const notReal = (shown: string) => new RemoveTreeError(shown, "is not a real directory (a symlink or a file is in its place); nothing under it was removed");
  let fd: number | null;
  try {
    const rootFd = openDirNoFollow(root);
    if (rootFd === null) return false;
    try {
      fd = openDirBeneath(rootFd, dirs);
    } catch (err) {
      if (err instanceof NotRealDirError) throw notReal([root, ...dirs.slice(0, err.depth)].join("/"));
      throw err;
    } finally {
      closeSync(rootFd);
    }
  } catch (err) {
    if (err instanceof RemoveTreeError) throw err;
    if (err instanceof NotRealDirError) throw notReal(root);
    throw failure(root, err);
  }
  if (fd === null) return false;
  const shown = [root, ...segments].join("/");
  try {
    unlinkSync(at(fd, Buffer.from(segments.at(-1)!)));
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return false;
    if (code === "EISDIR") throw new RemoveTreeError(shown, "is a directory, not a file; left as it is");
    throw failure(shown, err);
  } finally {
    closeSync(fd);
  }
}
