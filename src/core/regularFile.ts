import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from "node:fs";

/** Human name for a file's type, for refusal messages. */
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

export function errnoCode(err: unknown): string | undefined {
  return err !== null && typeof err === "object" && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

function limitText(limit: number): string {
  const MiB = 1024 * 1024;
  if (limit % MiB === 0) return `${limit / MiB} MiB`;
  if (limit % 1024 === 0) return `${limit / 1024} KiB`;
  return `${limit}-byte`;
}

/** Why a file was refused, for callers that treat some refusals differently (the wording is for people). */
export type FileRefusal = "symlink" | "not_regular" | "too_large" | "changed" | "not_utf8";

export interface ReadRegularFileOptions {
  /** Largest size read; a bigger file is refused without reading more than `limit` + 1 bytes. */
  limit: number;
  /**
   * false (files a container wrote): a symlink is refused, and the open uses O_NOFOLLOW.
   * true (files the user keeps, e.g. a dotfiles checkout): a symlink to a regular file is read.
   */
  followSymlinks: boolean;
  /** Builds the caller's error from a problem ("is a symlink", "is not a regular file (fifo)", …); `code` is what to decide by. */
  refuse: (problem: string, code: FileRefusal) => Error;
  /** Extra checks on the opened descriptor before it is read (e.g. where it really is). */
  verifyOpened?: (fd: number) => void;
}

/**
 * Reads one regular file as UTF-8 text without ever blocking on a FIFO, opening a device, reading
 * an endless file or (unless asked to) following a symlink: the type and size are checked before
 * the open (opening some devices has effects), the open is non-blocking, and the opened
 * descriptor is checked again (the file may have been swapped in between). Returns null when the
 * file does not exist; every refusal goes through `refuse`; other fs errors are thrown as they are.
 */
export function readRegularFileSync(path: string, options: ReadRegularFileOptions): string | null {
  const { limit, followSymlinks, refuse } = options;
  let before: Stats;
  try {
    before = followSymlinks ? statSync(path) : lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return null;
    throw err;
  }
  const overLimit = (size: number) => refuse(`is ${size} bytes, over the ${limitText(limit)} limit`, "too_large");
  if (before.isSymbolicLink()) throw refuse("is a symlink", "symlink");
  if (!before.isFile()) throw refuse(`is not a regular file (${fileKind(before)})`, "not_regular");
  if (before.size > limit) throw overLimit(before.size);

  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (followSymlinks ? 0 : (constants.O_NOFOLLOW ?? 0));
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return null;
    if (code === "ELOOP" || code === "EMLINK") throw refuse("is a symlink", "symlink");
    if (code === "ENXIO") throw refuse("is not a regular file (socket or fifo)", "not_regular");
    throw err;
  }
  try {
    const opened = fstatSync(fd);
    if (!opened.isFile()) throw refuse(`is not a regular file (${fileKind(opened)})`, "not_regular");
    if (opened.size > limit) throw overLimit(opened.size);
    if (opened.dev !== before.dev || opened.ino !== before.ino) throw refuse("changed while it was being read", "changed");
    options.verifyOpened?.(fd);

    // Sized by the file, not the limit: a 256 KiB buffer zeroed per file was most of the roster's
    // load time. A file that grows after the fstat gets a bigger buffer, up to limit + 1 bytes.
    let buf = Buffer.alloc(Math.min(opened.size, limit) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > limit) break;
        const bigger = Buffer.alloc(Math.min(buf.length * 2, limit + 1));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const bytesRead = readSync(fd, buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    if (total > limit) throw overLimit(total);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(0, total));
    } catch {
      throw refuse("is not valid UTF-8 text", "not_utf8");
    }
  } finally {
    closeSync(fd);
  }
}
