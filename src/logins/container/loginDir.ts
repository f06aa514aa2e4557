import { lstatSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Env } from "../../context.js";
import { RemoveTreeError, removeTree } from "../../core/removeTree.js";
import { prepareMountDir } from "../../engine/index.js";

const MOUNT = "mount";
const PREFIX = "authctl-";

/** The temp root login dirs are made in: the context's `TMPDIR`, else the system's. */
export const loginTempRoot = (env: Env): string => resolve(env.TMPDIR?.trim() || tmpdir());

/**
 * A login's temp dir: `<temp root>/authctl-<container name>-<random>/` (0700, the caller's) holding
 * `mount/`, the dir the container sees, owned by whoever the container runs as (`owner`, see
 * containerUser). The private parent keeps every other account out of it on the host side. The container name in it lets a sweep tell whether the
 * login still runs. Returns the mount dir (the session's `authDir`).
 */
export function createLoginDir(containerName: string, owner: number | null, tempRoot: string): string {
  // node's own mkdtemp (0700): tmp-promise cost a module load and an exit handler on every login.
  // Synchronous, as this file's other calls: each is one syscall, and node:fs/promises would be a
  // module load (≈ 2 ms of CPU) on a login's way to its container.
  const root = mkdtempSync(join(tempRoot, `${PREFIX}${containerName}-`));
  try {
    const mount = join(root, MOUNT);
    mkdirSync(mount, { mode: 0o700 });
    prepareMountDir(mount, owner);
    return mount;
  } catch (err) {
    removeTree(root);
    throw err;
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Whether `authDir` is a login dir this process made: `<temp root>/authctl-…/mount`, its parent a
 * real 0700 directory (not a symlink) owned by the caller. "gone" when it no longer exists;
 * otherwise the reason it is not. A session file says where its dir is, but it is only a file:
 * this is what decides whether anything is deleted.
 */
function loginDirStatus(authDir: string, tempRoot: string): "ours" | "gone" | { notOurs: string } {
  const root = dirname(authDir);
  const notOurs = (why: string) => ({ notOurs: `not a login dir authctl made (${why})` });
  const expected = join(tempRoot, `${PREFIX}…`, MOUNT);
  if (resolve(authDir) !== authDir || basename(authDir) !== MOUNT || !basename(root).startsWith(PREFIX)) return notOurs(`those are ${expected}`);
  if (dirname(root) !== tempRoot) {
    return notOurs(`those are ${expected}, in this process's TMPDIR: clean up with the TMPDIR the login was prepared with`);
  }
  const stats = lstatOrUndefined(root);
  if (!stats) return "gone";
  if (stats.isSymbolicLink()) return notOurs(`${root} is a symlink`);
  if (!stats.isDirectory()) return notOurs(`${root} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return notOurs(`${root} belongs to uid ${stats.uid}, not to you (uid ${uid})`);
  if ((stats.mode & 0o077) !== 0) return notOurs(`${root} has mode ${(stats.mode & 0o777).toString(8)}, not 700`);
  return "ours";
}

/**
 * Removes a login dir made by `createLoginDir` (its private parent too); idempotent. Anything else
 * is left alone: returns why, or undefined once the dir is gone. The login container may still run
 * and swap what it can write for a symlink to a host path, hence removeTree; when it keeps writing,
 * what is left is said too.
 */
export function removeLoginDir(authDir: string, tempRoot: string): string | undefined {
  const status = loginDirStatus(authDir, tempRoot);
  if (typeof status === "object") return status.notOurs;
  if (status === "gone") return undefined;
  try {
    removeTree(dirname(authDir));
    return undefined;
  } catch (err) {
    if (!(err instanceof RemoveTreeError)) throw err;
    return `only partly removed (${err.message}): remove it once its login container has stopped`;
  }
}

/** Whether the login dir `authDir` was made for the container `containerName`. */
export const loginDirOf = (authDir: string, containerName: string): boolean => basename(dirname(authDir)).startsWith(`${PREFIX}${containerName}-`);

const readdirOrNone = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * Login dirs (their `authDir`s) under `tempRoot` that authctl made and nobody touched for
 * `maxAgeMs`: what a killed authctl leaves. A dir qualifies only if it holds `mount/` and nothing
 * else, so other `authctl-*` temp files (test homes, image build stages) are never candidates.
 */
export function staleLoginDirs(tempRoot: string, now: number, maxAgeMs: number): string[] {
  const stale: string[] = [];
  for (const name of readdirOrNone(tempRoot)) {
    if (!name.startsWith(PREFIX)) continue;
    const authDir = join(tempRoot, name, MOUNT);
    try {
      if (loginDirStatus(authDir, tempRoot) !== "ours") continue;
      const mount = lstatOrUndefined(authDir);
      const onlyMount = readdirSync(dirname(authDir)).length === 1;
      if (mount?.isDirectory() && onlyMount && now - lstatSync(dirname(authDir)).mtimeMs > maxAgeMs) stale.push(authDir);
    } catch {
      // Removed or replaced while we looked: not a candidate.
    }
  }
  return stale;
}
