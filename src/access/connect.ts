import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Authctl } from "../context.js";
import { UntrustedServiceError } from "../core/errors.js";
import { ServiceClient } from "./client.js";
import type { ProxyAddress } from "./protocol.js";
import { servicePeerUnchecked, verifyServiceDir } from "./wire.js";

/**
 * Where one home's service listens: `$AUTHCTL_SOCKET` when given; else `$XDG_RUNTIME_DIR/authctl/`
 * for the default home, `$AUTHCTL_HOME/run/` for an explicit one (two homes, two daemons).
 */
export function serviceLocation(context: Pick<Authctl, "env" | "paths">): { dir: string; socketPath: string; pidFile: string; proxySocketPath: string } {
  const xdg = context.env.XDG_RUNTIME_DIR;
  const dir = !context.env.AUTHCTL_HOME && xdg ? join(xdg, "authctl") : context.paths.run;
  const socketPath = context.env.AUTHCTL_SOCKET || join(dir, "authctl.sock");
  return { dir, socketPath, pidFile: join(dir, "serve.pid"), proxySocketPath: join(dir, "proxy.sock") };
}

/**
 * A client for this home's service if one answers, else undefined. A socket in a directory that is
 * not the user's own, or served by another uid, throws UntrustedServiceError before anything is
 * sent. `peer` is the verified daemon (pid, uid); `peerUnchecked` says why its uid was not read.
 */
export async function connectService(context: Authctl, client: Omit<ConstructorParameters<typeof ServiceClient>[0], "socketPath"> = {}) {
  const { socketPath } = serviceLocation(context);
  verifyServiceDir(socketPath);
  if (!existsSync(socketPath)) return undefined;
  const service = new ServiceClient({ socketPath, ...client });
  try {
    const health = await service.health();
    const peerUnchecked = servicePeerUnchecked();
    return { service, socketPath, health, peer: service.peer, ...(peerUnchecked ? { peerUnchecked } : {}) };
  } catch (error) {
    if (error instanceof UntrustedServiceError) throw error;
    return undefined;
  }
}

/** The proxy socket (and URL) of this home's running daemon, if one answers. */
export async function runningProxy(context: Authctl): Promise<ProxyAddress | undefined> {
  return (await connectService(context))?.health.proxy;
}
