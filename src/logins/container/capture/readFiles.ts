import { readlinkSync, realpathSync, type Stats } from "node:fs";
import { lstat, stat } from "node:fs/promises";
import { join } from "node:path";
import { CaptureError } from "../../../core/errors.js";
import { errnoCode, fileKind, readRegularFileSync } from "../../../core/regularFile.js";
import type { CaptureSpec } from "../../../roster/schema.js";

/** One capture file read back from the login's temp dir: its roster-relative path and exact text. */
export interface CapturedFile {
  path: string;
  format: "json" | "yaml" | "env";
  text: string;
}

/** Largest credential file authctl reads (vendor credential files are a few KiB). */
export const MAX_CAPTURE_BYTES = 1024 * 1024;

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
 * reading more than `limit` + 1 bytes (core/regularFile.ts). Returns null when the file (or a
 * parent dir) does not exist; throws `CaptureError` naming `rel` and the reason for every refusal.
 */
export async function readRegularFile(baseDir: string, rel: string, limit = MAX_CAPTURE_BYTES): Promise<string | null> {
  const segments = safeSegments(rel);
  try {
    if ((await checkParents(baseDir, rel, segments)) === "missing") return null;
    return readRegularFileSync(join(baseDir, ...segments), {
      limit,
      followSymlinks: false,
      refuse: (problem) => new CaptureError(`capture file ${rel} ${problem}; refused`),
      verifyOpened: (fd) => assertOpenedUnder(fd, baseDir, segments, rel),
    });
  } catch (err) {
    throw fsFailure(rel, err);
  }
}

/**
 * Where the platform tells us (Linux /proc), checks the opened descriptor really is
 * `<realpath(baseDir)>/<rel>`: a parent dir swapped for a symlink between the lstat walk and the
 * open would show up as a different path.
 */
function assertOpenedUnder(fd: number, baseDir: string, segments: string[], rel: string): void {
  let opened: string;
  try {
    opened = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return; // no /proc: the dev/ino check is what we have
  }
  const expected = join(realpathSync(baseDir), ...segments);
  if (opened !== expected) {
    throw new CaptureError(`capture file ${rel} resolved outside the login directory (a parent was swapped for a symlink); refused`);
  }
}

/**
 * Reads the roster's capture files from a login's temp dir (docs/security.md). Refuses symlinks (the file
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
