import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, chown, lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CaptureError } from "../../../core/errors.js";
import { RemoveTreeError, unlinkBeneath } from "../../../core/removeTree.js";
import { errnoCode, fileKind } from "../../../core/regularFile.js";
import { assertSetName } from "../../../core/names.js";
import type { OAuthConfig } from "../../../roster/schema.js";
import { phantomMarker, type OAuthPayload } from "./extractors.js";
import { readRegularFile, safeSegments } from "./readFiles.js";

/** Name of the marker written into a shared mount when the real credential is not exposed. */
export const PHANTOM_FILE = "authctl-phantom.json";

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
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
 * Makes sure `dir` exists as a real directory (0700, the container user's when `owner` is set),
 * refusing a symlink planted in its place: project containers can write into a shared mount.
 */
async function ensureRealDir(dir: string, shown: string, owner: Owner): Promise<void> {
  const st = await lstatOrNull(dir);
  if (!st) {
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
    return ensureRealDir(dir, shown, owner);
  }
  if (st.isSymbolicLink()) throw new CaptureError(`shared mount ${shown} is a symlink; refused`);
  if (!st.isDirectory()) throw new CaptureError(`shared mount ${shown} is not a directory (${fileKind(st)}); move it away and log in again`);
  if (owner !== null && (st.uid !== owner || st.gid !== owner)) await chown(dir, owner, owner);
  if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

/** Creates the parents of `rel` under `dir` (0700), refusing any symlinked component. */
async function ensureParents(dir: string, dirName: string, segments: string[], owner: Owner): Promise<string> {
  let current = dir;
  for (let i = 0; i < segments.length - 1; i++) {
    current = join(current, segments[i]!);
    await ensureRealDir(current, `${dirName}/${segments.slice(0, i + 1).join("/")}`, owner);
  }
  return join(dir, ...segments);
}

/** A file written next to its target (0600, O_EXCL|O_NOFOLLOW, synced), waiting to be renamed over it. */
interface StagedFile {
  rel: string;
  tmp: string;
  target: string;
}

/**
 * Stages `text` for `dir/rel`: refuses a directory at the target (a rename cannot replace it, and
 * the user must decide what it holds); a symlink there is simply replaced by the rename.
 */
async function stageFile(dir: string, dirName: string, rel: string, text: string, owner: Owner): Promise<StagedFile> {
  const segments = safeSegments(rel);
  try {
    const target = await ensureParents(dir, dirName, segments, owner);
    const existing = await lstatOrNull(target);
    if (existing?.isDirectory()) {
      throw new CaptureError(`shared mount ${dirName}/${rel} is a directory, not a file; move it away and log in again`);
    }
    const tmp = `${target}.authctl-${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(tmp, WRITE_FLAGS, 0o600);
    try {
      try {
        await handle.chmod(0o600);
        if (owner !== null) await handle.chown(owner, owner);
        await handle.writeFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { rel, tmp, target };
  } catch (err) {
    throw mountError(dirName, rel, err);
  }
}

/**
 * Checks that `dir/rel` can be removed (a file, a symlink or nothing, under real directories) and
 * returns its path, or null when there is nothing to remove. Never recurses or follows a symlinked parent.
 */
async function checkRemovable(dir: string, dirName: string, rel: string): Promise<string | null> {
  const segments = safeSegments(rel);
  try {
    let current = dir;
    for (let i = 0; i < segments.length - 1; i++) {
      current = join(current, segments[i]!);
      const st = await lstatOrNull(current);
      if (!st) return null;
      if (!st.isDirectory() || st.isSymbolicLink()) {
        throw new CaptureError(`shared mount ${dirName}/${segments.slice(0, i + 1).join("/")} is not a real directory; refused`);
      }
    }
    const target = join(dir, ...segments);
    const st = await lstatOrNull(target);
    if (!st) return null;
    if (st.isDirectory()) throw new CaptureError(`shared mount ${dirName}/${rel} is a directory, not a file; move it away and log in again`);
    return target;
  } catch (err) {
    throw mountError(dirName, rel, err);
  }
}

/**
 * Unlinks files checked by `checkRemovable`; one already gone is fine. The container can swap a
 * directory above a file for a symlink after the check, hence unlinkBeneath.
 */
async function removeFiles(paths: readonly string[], dir: string, dirName: string): Promise<void> {
  for (const path of paths) {
    const rel = path.slice(dir.length + 1);
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

/**
 * Existing JSON object at `dir/rel` to merge into. Missing, invalid JSON or not an object → {}; a
 * symlink or special file planted by a container → {} (never read; replaced by the rename).
 * Over MAX_STATE_BYTES or MAX_STATE_DEPTH → refused: that is not a file a vendor writes, and
 * overwriting it could lose whatever the user keeps there.
 */
async function readJsonObject(dir: string, dirName: string, rel: string): Promise<Record<string, unknown>> {
  let text: string | null;
  try {
    text = await readRegularFile(dir, rel, MAX_STATE_BYTES);
  } catch (err) {
    if (err instanceof CaptureError && /symlink|not a regular file|changed while|resolved outside|UTF-8/.test(err.message)) return {};
    if (err instanceof CaptureError && /over the/.test(err.message)) {
      throw new CaptureError(`shared mount ${dirName}/${rel} is over ${MAX_STATE_BYTES / 1024 / 1024} MiB; move it away and log in again`);
    }
    throw mountError(dirName, rel, err);
  }
  if (text === null) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return {};
  }
  if (nestedDeeperThan(parsed, MAX_STATE_DEPTH)) {
    throw new CaptureError(`shared mount ${dirName}/${rel} nests deeper than ${MAX_STATE_DEPTH} levels; move it away and log in again`);
  }
  return isPlainObject(parsed) ? parsed : {};
}

/**
 * The mounts dir is what keeps other host accounts out: the shared dirs inside may belong to the
 * container's uid (a real account on many hosts), so the dir above them must be 0700 and the
 * caller's. It is authctl's own dir, so a looser mode (an older authctl, a umask) is tightened;
 * one that is a symlink or someone else's is refused.
 */
async function ensurePrivateMountsDir(mountsDir: string, owner: Owner): Promise<void> {
  try {
    await mkdir(mountsDir, { recursive: true, mode: 0o700 });
    const st = await lstat(mountsDir);
    if (st.isSymbolicLink() || !st.isDirectory()) throw new CaptureError(`the mounts dir ${mountsDir} is not a real directory; refused`);
    const me = process.getuid?.();
    if (me !== undefined && st.uid !== me) throw new CaptureError(`the mounts dir ${mountsDir} belongs to uid ${st.uid}, not to you; refused`);
    if (owner !== null && (st.mode & 0o077) !== 0) await chmod(mountsDir, 0o700);
  } catch (err) {
    if (err instanceof CaptureError) throw err;
    throw new CaptureError(`could not create the mounts dir ${mountsDir}: ${errnoCode(err) ?? "unknown error"}`, { cause: err });
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
 * Validates and stages an update of `mountsDir/<set>/<host_dir_name>/` after a capture (SPEC §7),
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
  const dirName = `${opts.credentialSet}/${oauth.host_dir_name}`;
  // The set's dir is authctl's like the mounts dir above it: 0700 and the caller's, the shared
  // dir inside may be the container user's.
  await ensurePrivateMountsDir(mountsDir, owner);
  await ensurePrivateMountsDir(dirname(dir), owner);
  try {
    await ensureRealDir(dir, dirName, owner);
  } catch (err) {
    throw mountError(dirName, "", err);
  }

  const credentialPaths = [...new Set([...oauth.capture.files.map((f) => f.path), ...Object.keys(payload.files)])];
  const writes: Array<[string, string]> = opts.exposeToken
    ? Object.entries(payload.files)
    : [[PHANTOM_FILE, phantomMarker(payload.provider, opts.credentialSet)]];
  const removals = opts.exposeToken ? [PHANTOM_FILE] : credentialPaths;

  const staged: StagedFile[] = [];
  const discard = async () => {
    await Promise.all(staged.splice(0).map((f) => unlink(f.tmp).catch(() => undefined)));
  };
  try {
    for (const [rel, patch] of Object.entries(oauth.post_capture_state ?? {})) {
      if (credentialPaths.includes(rel)) continue; // never rewrite the vendor's credential file
      const merged = deepMerge(await readJsonObject(dir, dirName, rel), patch);
      writes.push([rel, JSON.stringify(merged, null, 2) + "\n"]);
    }
    const toRemove: string[] = [];
    for (const rel of removals) {
      const path = await checkRemovable(dir, dirName, rel);
      if (path) toRemove.push(path);
    }
    for (const [rel, text] of writes) staged.push(await stageFile(dir, dirName, rel, text, owner));

    return {
      dir,
      discard,
      async commit() {
        for (const f of staged.splice(0)) {
          try {
            await rename(f.tmp, f.target);
          } catch (err) {
            await unlink(f.tmp).catch(() => undefined);
            throw mountError(dirName, f.rel, err);
          }
        }
        await removeFiles(toRemove, dir, dirName);
        return dir;
      },
    };
  } catch (err) {
    await discard();
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

/** True when `dir` is a real directory, false when it is missing; anything else is refused. */
async function isRealDir(dir: string, shown: string): Promise<boolean> {
  const st = await lstatOrNull(dir);
  if (!st) return false;
  if (st.isSymbolicLink() || !st.isDirectory()) throw new CaptureError(`shared mount ${shown} is not a real directory (${fileKind(st)}); refused`);
  return true;
}

/** Whether the phantom marker in `dir` was written for this (set, provider). */
async function markerNames(dir: string, dirName: string, credentialSet: string, provider: string): Promise<boolean> {
  const { authctl } = (await readJsonObject(dir, dirName, PHANTOM_FILE)) as { authctl?: { provider?: unknown; credentialSet?: unknown } };
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
  const credentialPaths = oauth.capture.files.map((f) => f.path);
  const mounts = [
    { dir: sharedMountDir(mountsDir, credentialSet, oauth.host_dir_name), dirName: `${credentialSet}/${oauth.host_dir_name}`, legacy: false },
    { dir: join(mountsDir, oauth.host_dir_name), dirName: oauth.host_dir_name, legacy: true },
  ];
  const plans: Array<{ dir: string; dirName: string; files: string[] }> = [];
  for (const { dir, dirName, legacy } of mounts) {
    if (!(await isRealDir(dir, dirName))) continue;
    const removable = legacy && !(await markerNames(dir, dirName, credentialSet, provider)) ? credentialPaths : [...credentialPaths, PHANTOM_FILE];
    const files: string[] = [];
    for (const rel of removable) {
      const path = await checkRemovable(dir, dirName, rel);
      if (path) files.push(path);
    }
    plans.push({ dir, dirName, files });
  }
  return {
    files: plans.flatMap((p) => p.files),
    async commit() {
      for (const p of plans) await removeFiles(p.files, p.dir, p.dirName);
    },
  };
}
