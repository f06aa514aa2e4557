/**
 * The shared mount: the vendor files (or phantom markers) a container login exposes to the agent
 * containers that mount them. It is a delivery, but it is written the moment a container login is
 * captured, so it stays in logins, out of `capture/` (which only reads what the login container
 * wrote). It cannot sit with delivery: run, serve and proxy are above logins, and in access it
 * would make logins and access import each other (access already imports logins for refreshes,
 * key formats and images).
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { hasFdPaths, NotRealDirError, openDirAt, openDirBeneath, openDirNoFollow, pathAt } from "../../core/dirHandles.js";
import { CaptureError } from "../../core/errors.js";
import { RemoveTreeError, unlinkBeneath } from "../../core/removeTree.js";
import { errnoCode, readRegularFileSync, type FileRefusal } from "../../core/regularFile.js";
import { assertSetName } from "../../core/names.js";
import type { OAuthConfig } from "../../roster/schema.js";
import { phantomMarker, type OAuthPayload } from "./capture/extractors.js";
import { safeSegments } from "./capture/readFiles.js";

/** Name of the marker written into a shared mount when the real credential is not exposed. */
export const PHANTOM_FILE = "authctl-phantom.json";

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw err;
  }
}

function mountError(dirName: string, rel: string, err: unknown): CaptureError {
  if (err instanceof CaptureError) return err;
  return new CaptureError(`could not update shared mount ${dirName}/${rel}: ${errnoCode(err) ?? "unknown error"}`, { cause: err });
}

/**
 * Largest JSON state file (e.g. Claude's `.claude.json`, which keeps per-project history and can
 * grow past the 1 MiB credential cap) that post_capture_state merges into.
 */
export const MAX_STATE_BYTES = 16 * 1024 * 1024;
/** Deepest nesting merged and re-serialised: JSON.stringify recurses, and vendors nest a few levels. */
export const MAX_STATE_DEPTH = 64;

/** Who owns what authctl writes into a shared mount: null keeps the caller (see containerUser in engine). */
type Owner = number | null;

/**
 * A shared mount open as a directory handle. Containers write into it, so everything below it is
 * reached through handles that never follow a symlink (core/dirHandles): a directory swapped for a
 * symlink to a host dir after a check is refused, never written, read, chowned or chmodded.
 */
interface OpenMount {
  fd: number;
  /** `<set>/<host_dir_name>`, for messages. */
  dirName: string;
}

function assertFdPaths(): void {
  if (!hasFdPaths()) throw new CaptureError("this system has no /proc/self/fd, which authctl needs to update shared mounts without following symlinks a container may plant");
}

function notRealDir(dirName: string, rel: string, symlink: boolean): CaptureError {
  const shown = `shared mount ${rel ? `${dirName}/${rel}` : dirName}`;
  return new CaptureError(symlink ? `${shown} is a symlink; refused` : `${shown} is not a directory; move it away and log in again`);
}

/** 0700 and the container user's when `owner` is set, fixed through the descriptor. */
function makePrivate(fd: number, owner: Owner): void {
  const st = fstatSync(fd);
  if (owner !== null && (st.uid !== owner || st.gid !== owner)) fchownSync(fd, owner, owner);
  if ((st.mode & 0o777) !== 0o700) fchmodSync(fd, 0o700);
}

/**
 * Opens the directory `dirs` below the mount; the caller closes it. Writing (`owner` given), missing
 * levels are made and each is made private to the owner; reading, a missing level gives null.
 */
function openMountDir(mount: OpenMount, dirs: readonly string[], writing: { owner: Owner } | null): number | null {
  try {
    return openDirBeneath(mount.fd, dirs, writing ? { createMode: 0o700, onOpen: (fd) => makePrivate(fd, writing.owner) } : {});
  } catch (err) {
    if (err instanceof NotRealDirError) throw notRealDir(mount.dirName, dirs.slice(0, err.depth).join("/"), err.symlink);
    throw err;
  }
}

/** A file written next to its target (0600, O_EXCL|O_NOFOLLOW, synced), waiting to be renamed over it. */
interface StagedFile {
  rel: string;
  /** The target's directory, held open until the rename. */
  parentFd: number;
  tmp: string;
  name: string;
}

function unlinkQuietly(parentFd: number, name: string): void {
  try {
    unlinkSync(pathAt(parentFd, name));
  } catch {
    // already gone, or the container took it: nothing of ours is left to remove
  }
}

/**
 * Stages `text` for `rel`: refuses a directory at the target (a rename cannot replace it, and
 * the user must decide what it holds); a symlink there is simply replaced by the rename.
 */
function stageFile(mount: OpenMount, rel: string, text: string, owner: Owner): StagedFile {
  const segments = safeSegments(rel);
  const name = segments.at(-1)!;
  let parentFd: number | null = null;
  try {
    parentFd = openMountDir(mount, segments.slice(0, -1), { owner })!;
    if (lstatOrNull(pathAt(parentFd, name))?.isDirectory()) {
      throw new CaptureError(`shared mount ${mount.dirName}/${rel} is a directory, not a file; move it away and log in again`);
    }
    const tmp = `${name}.authctl-${randomBytes(6).toString("hex")}.tmp`;
    const fd = openSync(pathAt(parentFd, tmp), WRITE_FLAGS, 0o600);
    try {
      try {
        fchmodSync(fd, 0o600);
        if (owner !== null) fchownSync(fd, owner, owner);
        writeFileSync(fd, text, "utf8");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      unlinkQuietly(parentFd, tmp);
      throw err;
    }
    return { rel, parentFd, tmp, name };
  } catch (err) {
    if (parentFd !== null) closeSync(parentFd);
    throw mountError(mount.dirName, rel, err);
  }
}

/** True when `rel` holds something to remove: a file or a symlink (a directory there is refused). */
function checkRemovable(mount: OpenMount, rel: string): boolean {
  const segments = safeSegments(rel);
  try {
    const parentFd = openMountDir(mount, segments.slice(0, -1), null);
    if (parentFd === null) return false;
    try {
      const st = lstatOrNull(pathAt(parentFd, segments.at(-1)!));
      if (st?.isDirectory()) throw new CaptureError(`shared mount ${mount.dirName}/${rel} is a directory, not a file; move it away and log in again`);
      return st !== null;
    } finally {
      closeSync(parentFd);
    }
  } catch (err) {
    throw mountError(mount.dirName, rel, err);
  }
}

/**
 * Unlinks files checked by `checkRemovable`; one already gone is fine. The container can swap a
 * directory above a file for a symlink after the check, hence unlinkBeneath.
 */
async function removeFiles(rels: readonly string[], dir: string, dirName: string): Promise<void> {
  for (const rel of rels) {
    try {
      unlinkBeneath(dir, safeSegments(rel));
    } catch (err) {
      if (err instanceof RemoveTreeError) throw new CaptureError(`shared mount ${dirName}/${rel} not removed: ${err.message}`, { cause: err });
      throw mountError(dirName, rel, err);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Objects merge recursively; anything else in `patch` replaces. Never touches prototypes. */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const set = (k: string, v: unknown) => Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [k, v] of Object.entries(base)) set(k, v);
  for (const [k, v] of Object.entries(patch)) {
    const prev = Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined;
    set(k, isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v);
  }
  return out;
}

/** True when `value` nests deeper than `limit` objects/arrays; iterative, so any depth is safe to ask about. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > limit) return true;
    for (const child of Object.values(v as object)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A state file readRegularFileSync refused, with its code for why. */
class StateRefusal extends Error {
  constructor(readonly code: FileRefusal) {
    super(code);
  }
}

/**
 * Existing JSON object at `rel` in the mount to merge into. Missing, invalid JSON or not an object → {};
 * a symlink or special file planted by a container → {} (never read; replaced by the rename).
 * Over MAX_STATE_BYTES or MAX_STATE_DEPTH → refused: that is not a file a vendor writes, and
 * overwriting it could lose whatever the user keeps there.
 */
function readJsonObject(mount: OpenMount, rel: string): Record<string, unknown> {
  const segments = safeSegments(rel);
  let text: string | null = null;
  try {
    const parentFd = openMountDir(mount, segments.slice(0, -1), null);
    if (parentFd !== null) {
      try {
        text = readRegularFileSync(pathAt(parentFd, segments.at(-1)!), {
          limit: MAX_STATE_BYTES,
          followSymlinks: false,
          refuse: (_problem, code) => new StateRefusal(code),
        });
      } finally {
        closeSync(parentFd);
      }
    }
  } catch (err) {
    if (!(err instanceof StateRefusal)) throw mountError(mount.dirName, rel, err);
    // A planted symlink or special file is replaced by the rename; only a file too big to merge stops the login.
    if (err.code !== "too_large") return {};
    throw new CaptureError(`shared mount ${mount.dirName}/${rel} is over ${MAX_STATE_BYTES / 1024 / 1024} MiB; move it away and log in again`);
  }
  if (text === null) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return {};
  }
  if (nestedDeeperThan(parsed, MAX_STATE_DEPTH)) {
    throw new CaptureError(`shared mount ${mount.dirName}/${rel} nests deeper than ${MAX_STATE_DEPTH} levels; move it away and log in again`);
  }
  return isPlainObject(parsed) ? parsed : {};
}

/**
 * The mounts dir is what keeps other host accounts out: the shared dirs inside may belong to the
 * container's uid (a real account on many hosts), so the dir above them must be 0700 and the
 * caller's. It is authctl's own dir, so a looser mode (an older authctl, a umask) is tightened;
 * one that is a symlink or someone else's is refused. Returns it open; the caller closes it.
 */
function openPrivateMountsDir(mountsDir: string, owner: Owner): number {
  try {
    mkdirSync(mountsDir, { recursive: true, mode: 0o700 });
    const fd = openDirNoFollow(mountsDir);
    if (fd === null) throw new CaptureError(`the mounts dir ${mountsDir} vanished while it was being created; try again`);
    try {
      const st = fstatSync(fd);
      const me = process.getuid?.();
      if (me !== undefined && st.uid !== me) throw new CaptureError(`the mounts dir ${mountsDir} belongs to uid ${st.uid}, not to you; refused`);
      if (owner !== null && (st.mode & 0o077) !== 0) fchmodSync(fd, 0o700);
      return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  } catch (err) {
    if (err instanceof CaptureError) throw err;
    if (err instanceof NotRealDirError) throw new CaptureError(`the mounts dir ${mountsDir} is not a real directory; refused`);
    throw new CaptureError(`could not create the mounts dir ${mountsDir}: ${errnoCode(err) ?? "unknown error"}`, { cause: err });
  }
}

/** Opens (making it when missing) the set's shared mount from a handle on the set's dir, private to `owner`. */
function openMountForWriting(mountsDir: string, credentialSet: string, hostDirName: string, owner: Owner): OpenMount {
  const dirName = `${credentialSet}/${hostDirName}`;
  assertFdPaths();
  // The set's dir is authctl's like the mounts dir above it: 0700 and the caller's, the shared
  // dir inside may be the container user's.
  closeSync(openPrivateMountsDir(mountsDir, owner));
  const setFd = openPrivateMountsDir(dirname(sharedMountDir(mountsDir, credentialSet, hostDirName)), owner);
  let fd: number | null = null;
  try {
    fd = openDirAt(setFd, hostDirName, 0o700)!;
    makePrivate(fd, owner);
    return { fd, dirName };
  } catch (err) {
    if (fd !== null) closeSync(fd);
    if (err instanceof NotRealDirError) throw notRealDir(dirName, "", err.symlink);
    throw mountError(dirName, "", err);
  } finally {
    closeSync(setFd);
  }
}

/**
 * `mountsDir/<set>/<host_dir_name>`: one shared mount per credential set, so a project's container
 * sees its own set's login and removing one set's credential touches no other set's files.
 */
export function sharedMountDir(mountsDir: string, credentialSet: string, hostDirName: string): string {
  return join(mountsDir, assertSetName(credentialSet), hostDirName);
}

/** A shared-mount update validated and written to temp files, not yet visible. */
export interface PreparedSharedMount {
  /** `mountsDir/<set>/<host_dir_name>` */
  readonly dir: string;
  /** Renames the staged files into place and removes what the new state replaces; returns `dir`. */
  commit(): Promise<string>;
  /** Removes the staged files, leaving the mount as it was. Idempotent. */
  discard(): Promise<void>;
}

export interface SharedMountOptions {
  exposeToken: boolean;
  credentialSet: string;
  /** uid/gid for what is written (the container user's on a rootful engine); default: the caller's. */
  owner?: number | null;
}

/**
 * Validates and stages an update of `mountsDir/<set>/<host_dir_name>/` after a capture (docs/logging-in.md),
 * so the caller can store the credential only once nothing in the mount can refuse anymore.
 * Default: a phantom marker (no secret) and any previously exposed credential files removed.
 * `exposeToken`: the vendor's credential files verbatim (0600). Then `post_capture_state` is
 * deep-merged into its JSON files (bounded in size and depth).
 */
export async function prepareSharedMount(
  mountsDir: string,
  oauth: OAuthConfig,
  payload: OAuthPayload,
  opts: SharedMountOptions,
): Promise<PreparedSharedMount> {
  const owner = opts.owner ?? null;
  if (safeSegments(oauth.host_dir_name).length !== 1) throw new CaptureError(`host_dir_name ${oauth.host_dir_name} must be one path segment`);
  const dir = sharedMountDir(mountsDir, opts.credentialSet, oauth.host_dir_name);
  const mount = openMountForWriting(mountsDir, opts.credentialSet, oauth.host_dir_name, owner);

  const credentialPaths = [...new Set([...oauth.capture.files.map((f) => f.path), ...Object.keys(payload.files)])];
  const writes: Array<[string, string]> = opts.exposeToken
    ? Object.entries(payload.files)
    : [[PHANTOM_FILE, phantomMarker(payload.provider, opts.credentialSet)]];
  const removals = opts.exposeToken ? [PHANTOM_FILE] : credentialPaths;

  const staged: StagedFile[] = [];
  let open = true;
  /** Removes what is still staged and closes every handle; safe to call again. */
  const release = () => {
    for (const f of staged.splice(0)) {
      unlinkQuietly(f.parentFd, f.tmp);
      closeSync(f.parentFd);
    }
    if (open) closeSync(mount.fd);
    open = false;
  };
  try {
    for (const [rel, patch] of Object.entries(oauth.post_capture_state ?? {})) {
      if (credentialPaths.includes(rel)) continue; // never rewrite the vendor's credential file
      const merged = deepMerge(readJsonObject(mount, rel), patch);
      writes.push([rel, JSON.stringify(merged, null, 2) + "\n"]);
    }
    const toRemove = removals.filter((rel) => checkRemovable(mount, rel));
    for (const [rel, text] of writes) staged.push(stageFile(mount, rel, text, owner));

    return {
      dir,
      discard: async () => release(),
      async commit() {
        try {
          for (let f = staged[0]; f !== undefined; f = staged[0]) {
            try {
              renameSync(pathAt(f.parentFd, f.tmp), pathAt(f.parentFd, f.name));
            } catch (err) {
              throw mountError(mount.dirName, f.rel, err);
            }
            staged.shift();
            closeSync(f.parentFd);
          }
        } finally {
          release();
        }
        await removeFiles(toRemove, dir, mount.dirName);
        return dir;
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

/** `prepareSharedMount` then `commit` (for callers with nothing to store in between). */
export async function writeSharedMount(mountsDir: string, oauth: OAuthConfig, payload: OAuthPayload, opts: SharedMountOptions): Promise<string> {
  return (await prepareSharedMount(mountsDir, oauth, payload, opts)).commit();
}

/** Shared-mount files to remove with a credential, checked but not yet removed. */
export interface PlannedMountRemoval {
  /** Absolute paths of the copies authctl wrote: vendor credential files and the phantom marker. */
  readonly files: readonly string[];
  /** Removes them (one already gone is fine). */
  commit(): Promise<void>;
}

/** The mount at `dir` open, or null when it is missing; anything but a real directory is refused. */
function openExistingMount(dir: string, dirName: string): OpenMount | null {
  try {
    const fd = openDirNoFollow(dir);
    return fd === null ? null : { fd, dirName };
  } catch (err) {
    if (err instanceof NotRealDirError) throw new CaptureError(`shared mount ${dirName} is not a real directory (${err.symlink ? "a symlink" : "a file"}); refused`);
    throw mountError(dirName, "", err);
  }
}

/** Whether the phantom marker in the mount was written for this (set, provider). */
function markerNames(mount: OpenMount, credentialSet: string, provider: string): boolean {
  const { authctl } = readJsonObject(mount, PHANTOM_FILE) as { authctl?: { provider?: unknown; credentialSet?: unknown } };
  return authctl?.provider === provider && authctl.credentialSet === credentialSet;
}

/**
 * What removing (set, provider) takes out of the shared mounts: from the set's own mount, the
 * vendor credential files and the phantom marker (the state files such as `.claude.json` hold no
 * credential and stay). From the one-per-provider mount older authctl versions wrote
 * (`mountsDir/<host_dir_name>/`, no longer updated) the credential files too: they are a plaintext
 * copy of the last login of some set that nothing keeps current; its marker only when it names
 * this set. Everything is checked first (no symlinked dir, no directory in a file's place), so a
 * refusal removes nothing.
 */
export async function planSharedMountRemoval(
  mountsDir: string,
  oauth: OAuthConfig,
  credentialSet: string,
  provider: string,
): Promise<PlannedMountRemoval> {
  if (safeSegments(oauth.host_dir_name).length !== 1) throw new CaptureError(`host_dir_name ${oauth.host_dir_name} must be one path segment`);
  assertFdPaths();
  const credentialPaths = oauth.capture.files.map((f) => f.path);
  const mounts = [
    { dir: sharedMountDir(mountsDir, credentialSet, oauth.host_dir_name), dirName: `${credentialSet}/${oauth.host_dir_name}`, legacy: false },
    { dir: join(mountsDir, oauth.host_dir_name), dirName: oauth.host_dir_name, legacy: true },
  ];
  const plans: Array<{ dir: string; dirName: string; rels: string[] }> = [];
  for (const { dir, dirName, legacy } of mounts) {
    const mount = openExistingMount(dir, dirName);
    if (!mount) continue;
    try {
      const removable = legacy && !markerNames(mount, credentialSet, provider) ? credentialPaths : [...credentialPaths, PHANTOM_FILE];
      plans.push({ dir, dirName, rels: removable.filter((rel) => checkRemovable(mount, rel)) });
    } finally {
      closeSync(mount.fd);
    }
  }
  return {
    files: plans.flatMap((p) => p.rels.map((rel) => join(p.dir, rel))),
    async commit() {
      for (const p of plans) await removeFiles(p.rels, p.dir, p.dirName);
    },
  };
}
