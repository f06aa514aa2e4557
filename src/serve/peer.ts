export { peerReader, type PeerCredentials, type PeerReader } from "../core/peerCredentials.js";
import { sameUserOrRoot, type PeerCredentials } from "../core/peerCredentials.js";

/** Whether the service checks callers' uids, and if not, why (told once at start). */
export type PeerCheckState = { enabled: true } | { enabled: false; reason: string };

/** Why a caller may not use the service (undefined when it may): only the service's own uid and root may. */
export function foreignPeer(peer: PeerCredentials | undefined, ownUid: number): string | undefined {
  if (!peer) return "the caller's uid could not be read (SO_PEERCRED)";
  if (sameUserOrRoot(peer, ownUid)) return undefined;
  return `the caller runs as uid ${peer.uid} (pid ${peer.pid}), neither the service's uid ${ownUid} nor root`;
}
