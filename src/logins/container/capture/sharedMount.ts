import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CaptureError } from "../../../core/errors.js";
import type { OAuthConfig } from "../../../roster/schema.js";
import { phantomMarker, type OAuthPayload } from "./extractors.js";
import { readRegularFile, safeSegments } from "./readFiles.js";

/** Name of the marker written into a shared mount when the real credential is not exposed. */
export const PHANTOM_FILE = "authctl-phantom.json";

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

function errnoCode(err: unknown): string | undefined {
  return err !== null && typeof err === "object" && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

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
 * Makes sure `dir` exists as a real directory (0700), refusing a symlink planted in its place:
 * project containers can write into a shared mount.
 */
async function ensureRealDir(dir: string, shown: string): Promise<void> {
  const st = await lstatOrNull(dir);
  if (!st) {
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
    return ensureRealDir(dir, shown);
  }
  if (st.isSymbolicLink()) throw new CaptureError(`shared mount ${shown} is a symlink; refused`);
  if (!st.isDirectory()) throw new CaptureError(`shared mount ${shown} is not a directory; refused`);
}

/** Creates the parents of `rel` under `dir` (0700), refusing any symlinked component. */
async function ensureParents(dir: string, dirName: string, segments: string[]): Promise<string> {
  let current = dir;
  for (let i = 0; i < segments.length - 1; i++) {
    current = join(current, segments[i]!);
    await ensureRealDir(current, `${dirName}/${segments.slice(0, i + 1).join("/")}`);
  }
  return join(dir, ...segments);
}

/**
 * Writes `text` to `dir/rel` with mode 0600 atomically (temp file + rename), never through a
 * symlink: one planted at the target is unlinked first, and the temp file is opened O_EXCL|O_NOFOLLOW.
 */
async function writeFileSafely(dir: string, dirName: string, rel: string, text: string): Promise<void> {
  const segments = safeSegments(rel);
  try {
    const target = await ensureParents(dir, dirName, segments);
    const existing = await lstatOrNull(target);
    if (existing?.isSymbolicLink()) await unlink(target);
    else if (existing && existing.isDirectory()) throw new CaptureError(`shared mount ${dirName}/${rel} is a directory; refused`);

    const tmp = `${target}.authctl-${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(tmp, WRITE_FLAGS, 0o600);
    try {
      try {
        await handle.chmod(0o600);
        await handle.writeFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  } catch (err) {
    throw mountError(dirName, rel, err);
  }
}

/** Removes `dir/rel` if it is a file or symlink (never recurses, never follows a symlinked parent). */
async function removeFileSafely(dir: string, dirName: string, rel: string): Promise<void> {
  const segments = safeSegments(rel);
  try {
    let current = dir;
    for (let i = 0; i < segments.length - 1; i++) {
      current = join(current, segments[i]!);
      const st = await lstatOrNull(current);
      if (!st) return;
      if (!st.isDirectory() || st.isSymbolicLink()) {
        throw new CaptureError(`shared mount ${dirName}/${segments.slice(0, i + 1).join("/")} is not a real directory; refused`);
      }
    }
    const target = join(dir, ...segments);
    const st = await lstatOrNull(target);
    if (!st) return;
    if (st.isDirectory()) throw new CaptureError(`shared mount ${dirName}/${rel} is a directory; refused to remove it`);
    await unlink(target);
  } catch (err) {
    throw mountError(dirName, rel, err);
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

/** Existing JSON object at `dir/rel`; missing, invalid, not an object, a symlink or special file → {}. */
async function readJsonObject(dir: string, rel: string): Promise<Record<string, unknown>> {
  let text: string | null;
  try {
    text = await readRegularFile(dir, rel);
  } catch (err) {
    // A symlink or FIFO planted by a container is never read; it is replaced by the atomic write.
    if (err instanceof CaptureError && /symlink|not a regular file|changed while|resolved outside|UTF-8/.test(err.message)) return {};
    throw err;
  }
  if (text === null) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return isPlainObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Updates `mountsDir/<host_dir_name>/` after a capture (SPEC §7) and returns that dir.
 * Default: a phantom marker (no secret) and any previously exposed credential files removed.
 * `exposeToken`: the vendor's credential files verbatim (0600). Then `post_capture_state` is
 * deep-merged into its JSON files.
 */
export async function writeSharedMount(
  mountsDir: string,
  oauth: OAuthConfig,
  payload: OAuthPayload,
  opts: { exposeToken: boolean; credentialSet: string },
): Promise<string> {
  const dirName = oauth.host_dir_name;
  if (safeSegments(dirName).length !== 1) throw new CaptureError(`host_dir_name ${dirName} must be one path segment`);
  try {
    await mkdir(mountsDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CaptureError(`could not create the mounts dir ${mountsDir}: ${errnoCode(err) ?? "unknown error"}`, { cause: err });
  }
  const dir = join(mountsDir, dirName);
  try {
    await ensureRealDir(dir, dirName);
  } catch (err) {
    throw mountError(dirName, "", err);
  }

  const credentialPaths = [...new Set([...oauth.capture.files.map((f) => f.path), ...Object.keys(payload.files)])];
  if (opts.exposeToken) {
    for (const [rel, text] of Object.entries(payload.files)) await writeFileSafely(dir, dirName, rel, text);
    await removeFileSafely(dir, dirName, PHANTOM_FILE);
  } else {
    for (const rel of credentialPaths) await removeFileSafely(dir, dirName, rel);
    await writeFileSafely(dir, dirName, PHANTOM_FILE, phantomMarker(payload.provider, opts.credentialSet));
  }

  for (const [rel, patch] of Object.entries(oauth.post_capture_state ?? {})) {
    if (credentialPaths.includes(rel)) continue; // never rewrite the vendor's credential file
    const merged = deepMerge(await readJsonObject(dir, rel), patch);
    await writeFileSafely(dir, dirName, rel, JSON.stringify(merged, null, 2) + "\n");
  }
  return dir;
}
