import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { join } from "node:path";

/** Who is at the other end of a Unix socket, as the kernel recorded it at connect() (for a client: who listened). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export type PeerReader = (socket: Socket) => PeerCredentials | undefined;

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_BYTES = 12;

interface Koffi {
  load(library: string): { func(signature: string): (...args: unknown[]) => number };
  struct(name: string, fields: Record<string, string>): unknown;
}

let loaded: { read: PeerReader } | { reason: string } | undefined;

/**
 * getsockopt(fd, SOL_SOCKET, SO_PEERCRED) through koffi, an optional dependency (Node has no API
 * for it), or why it cannot be had here. Loaded once: koffi registers the struct type by name.
 */
export function peerReader(): { read: PeerReader } | { reason: string } {
  loaded ??= loadPeerReader();
  return loaded;
}

/**
 * koffi's CommonJS entry, required by its file where node_modules lookup finds the package: the bare
 * name resolves through its package.json "exports", and Node's resolver for those (its ES module
 * one) costs ≈ 4 ms of CPU to load, on every `token` a running service answers. Any other layout
 * (another koffi version's, a bundler's) takes the bare name.
 */
function requireKoffi(): Koffi {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths("koffi") ?? []) {
    const entry = join(dir, "koffi", "index.cjs");
    if (existsSync(entry)) return require(entry) as Koffi;
  }
  return require("koffi") as Koffi;
}

function loadPeerReader(): { read: PeerReader } | { reason: string } {
  if (process.platform !== "linux") return { reason: `SO_PEERCRED is read on Linux only (this is ${process.platform})` };
  let koffi: Koffi;
  try {
    koffi = requireKoffi();
  } catch {
    return { reason: "the optional native helper koffi is not installed (npm install koffi)" };
  }
  try {
    koffi.struct("authctl_ucred", { pid: "int32", uid: "uint32", gid: "uint32" });
    const getsockopt = koffi.load("libc.so.6").func("int getsockopt(int fd, int level, int name, _Out_ authctl_ucred *value, _Inout_ uint32_t *length)");
    const read: PeerReader = (socket) => {
      // A connected Unix socket's libuv handle (accepted or dialled) carries its file descriptor; nothing public exposes it.
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (fd === undefined || fd < 0) return undefined;
      const value: Partial<PeerCredentials> = {};
      const length = [UCRED_BYTES];
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, length) !== 0) return undefined;
      return { pid: value.pid!, uid: value.uid!, gid: value.gid! };
    };
    return { read };
  } catch (error) {
    return { reason: `koffi could not call getsockopt in libc (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** The rule both ends of the service apply to each other: the other end runs as the same uid, or as root. */
export const sameUserOrRoot = (peer: PeerCredentials, ownUid: number): boolean => peer.uid === ownUid || peer.uid === 0;
