import { isatty } from "node:tty";

/**
 * Whether a flow's stdin is a terminal. The process's own descriptor is asked directly: building
 * `process.stdin` to read its `isTTY` costs ≈ 3 ms of CPU when fd 0 is a file or /dev/null (Node
 * loads its file streams and fs/promises for it), on `authctl auth`'s way to its container.
 */
export function stdinIsTerminal(streams: { stdin: { isTTY?: boolean }; stdinFd?: number }): boolean {
  return streams.stdinFd !== undefined ? isatty(streams.stdinFd) : Boolean(streams.stdin.isTTY);
}
