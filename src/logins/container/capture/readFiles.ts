import { constants, type Stats } from "node:fs";
import { lstat, open, readlink, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { CaptureError } from "../../../core/errors.js";
import type { CaptureSpec } from "../../../roster/schema.js";

/** One capture file read back from the login's temp dir: its roster-relative path and exact text. */
export interface CapturedFile {
  path: string;
  format: "json" | "yaml" | "env";
  text: string;
}

/** Largest credential file authctl reads (vendor credential files are a few KiB). */
export const MAX_CAPTURE_BYTES = 1024 * 1024;

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Splits a roster-relative path into its segments, refusing anything that could leave the base
 * dir: absolute paths, `..`, `.`, empty segments, backslashes and NUL bytes.
 * The roster schema already checks this; the capture code re-checks because it runs against a
 * directory a container wrote.
 */
export function safeSegments(rel: string): string[] {
  if (typeof rel !== "string" || rel.length === 0) throw new CaptureError("capture path is empty; refused");
  if (rel.includes("\0")) throw new CaptureError("capture path contains a NUL byte; refused");
  if (rel.startsWith("/")) throw new CaptureError(`capture path ${rel} is absolute; refused`);
  if (rel.includes("\\")) throw new CaptureError(`capture path ${rel} contains a backslash; refused`);
  const segments = rel.split("/");
  for (const s of segments) {
    if (s === "..") throw new CaptureError(`capture path ${rel} contains '..'; refused`);
    if (s === "" || s === ".") throw new CaptureError(`capture path ${rel} has an empty or '.' segment; refused`);
  }
  return segments;
}

/** Human name for a non-regular file type, for refusal messages. */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFile()) return "regular file";
  return "special file";
}

function errnoCode(err: unknown): string | undefined {
  return err !== null && typeof err === "object" && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return null;
    throw err;
  }
}

function missing(rel: string): CaptureError {
  return new CaptureError(`the login ended without a credential file: ${rel} was not written (did the login finish?)`);
}

function overLimit(rel: string, size: number, limit: number): CaptureError {
  const limitText = limit === MAX_CAPTURE_BYTES ? "1 MiB" : `${limit}-byte`;
  return new CaptureError(`capture file ${rel} is ${size} bytes, over the ${limitText} limit; refused`);
}

/** Wraps an unexpected fs error: names the path and the errno code, never contents. */
function fsFailure(rel: string, err: unknown): CaptureError {
  if (err instanceof CaptureError) return err;
  const code = errnoCode(err) ?? "unknown error";
  return new CaptureError(`could not read capture file ${rel}: ${code}`, { cause: err });
}

/**
 * Checks every directory between `baseDir` and the file with lstat: each must exist and be a real
 * directory, never a symlink. Returns null when a component is missing.
 */
async function checkParents(baseDir: string, rel: string, segments: string[]): Promise<"missing" | "ok"> {
  let current = baseDir;
  for (let i = 0; i < segments.length - 1; i++) {
    current = join(current, segments[i]!);
    const prefix = segments.slice(0, i + 1).join("/");
    const st = await lstatOrNull(current);
    if (!st) return "missing";
    if (st.isSymbolicLink()) {
      throw new CaptureError(`capture file ${rel}: parent directory ${prefix} is a symlink; refused`);
    }
    if (!st.isDirectory()) {
      throw new CaptureError(`capture file ${rel}: parent ${prefix} is not a directory (${fileKind(st)}); refused`);
    }
  }
  return "ok";
}

/**
 * Reads one regular file under `baseDir` without ever following a symlink, blocking on a FIFO or
 * reading more than `limit` + 1 bytes. Returns null when the file (or a parent dir) does not
 * exist; throws `CaptureError` naming `rel` and the reason for every refusal.
 */
export async function readRegularFile(baseDir: string, rel: string, limit = MAX_CAPTURE_BYTES): Promise<string | null> {
  const segments = safeSegments(rel);
  try {
    if ((await checkParents(baseDir, rel, segments)) === "missing") return null;
    const full = join(baseDir, ...segments);
    const pre = await lstatOrNull(full);
    if (!pre) return null;
    if (pre.isSymbolicLink()) throw new CaptureError(`capture file ${rel} is a symlink; refused`);
    if (!pre.isFile()) throw new CaptureError(`capture file ${rel} is not a regular file (${fileKind(pre)}); refused`);
    if (pre.size > limit) throw overLimit(rel, pre.size, limit);

    let handle;
    try {
      handle = await open(full, OPEN_FLAGS);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return null;
      if (code === "ELOOP" || code === "EMLINK") throw new CaptureError(`capture file ${rel} is a symlink; refused`);
      if (code === "ENXIO") throw new CaptureError(`capture file ${rel} is not a regular file (socket or fifo); refused`);
      throw err;
    }
    try {
      // Re-check on the opened descriptor: the container may have swapped the file since lstat.
      const st = await handle.stat();
      if (!st.isFile()) throw new CaptureError(`capture file ${rel} is not a regular file (${fileKind(st)}); refused`);
      if (st.size > limit) throw overLimit(rel, st.size, limit);
      if (st.dev !== pre.dev || st.ino !== pre.ino) {
        throw new CaptureError(`capture file ${rel} changed while it was being read; refused`);
      }
      await assertOpenedUnder(handle.fd, baseDir, segments, rel);

      const buf = Buffer.alloc(limit + 1);
      let total = 0;
      while (total < buf.length) {
        const { bytesRead } = await handle.read(buf, total, buf.length - total, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
      if (total > limit) throw overLimit(rel, total, limit);
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, total));
      } catch {
        throw new CaptureError(`capture file ${rel} is not valid UTF-8 text; refused`);
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fsFailure(rel, err);
  }
}

/**
 * Where the platform tells us (Linux /proc), checks the opened descriptor really is
 * `<realpath(baseDir)>/<rel>`: a parent dir swapped for a symlink between the lstat walk and the
 * open would show up as a different path.
 */
async function assertOpenedUnder(fd: number, baseDir: string, segments: string[], rel: string): Promise<void> {
  let opened: string;
  try {
    opened = await readlink(`/proc/self/fd/${fd}`);
  } catch {
    return; // no /proc: the dev/ino check above is what we have
  }
  const expected = join(await realpath(baseDir), ...segments);
  if (opened !== expected) {
    throw new CaptureError(`capture file ${rel} resolved outside the login directory (a parent was swapped for a symlink); refused`);
  }
}

/**
 * Reads the roster's capture files from a login's temp dir (SPEC §5). Refuses symlinks (the file
 * or any parent dir), FIFOs, sockets, devices and files over 1 MiB; a missing file means the
 * login did not finish. Errors name the provider-relative path and the reason, never contents.
 */
export async function readCaptureFiles(authDir: string, files: CaptureSpec["files"]): Promise<CapturedFile[]> {
  let base: Stats;
  try {
    base = await stat(authDir);
  } catch (err) {
    throw new CaptureError(`the login directory ${authDir} is gone (${errnoCode(err) ?? "unreadable"}); was the session cleaned up?`);
  }
  if (!base.isDirectory()) throw new CaptureError(`the login directory ${authDir} is not a directory`);

  const out: CapturedFile[] = [];
  for (const file of files) {
    const text = await readRegularFile(authDir, file.path);
    if (text === null) throw missing(file.path);
    out.push({ path: file.path, format: file.format, text });
  }
  return out;
}
