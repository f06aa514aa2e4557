import type { Authctl } from "../../context.js";
import { listContainers, SESSION_LABEL } from "../../engine/index.js";
import { loginDirOf, loginTempRoot, removeLoginDir, staleLoginDirs } from "./loginDir.js";
import { forgetSession, savedSessions, STALE_SESSION_MS } from "./savedSessions.js";
import { discardSession } from "./session.js";

/**
 * The daily sweep (`authctl session prepare`): sessions nobody captured or cleaned within a day
 * (frontends crash, terminals close) lose their container, temp dir and file; then login dirs a
 * killed authctl left (no session file names them) go once they are as old, unless a container
 * authctl labelled for them still exists. Never needs the roster.
 */
export async function sweepStaleLogins(context: Authctl, maxAgeMs = STALE_SESSION_MS): Promise<void> {
  const inUse = new Set<string>();
  for (const { id, saved, stale } of savedSessions(context, maxAgeMs)) {
    if (!stale) {
      if (saved) inUse.add(saved.state.authDir);
      continue;
    }
    const { state } = saved ?? {};
    if (state) await context.engine().then((engine) => discardSession(state, engine, context)).catch(() => undefined);
    forgetSession(context, id);
  }
  const tempRoot = loginTempRoot(context.env);
  const orphans = staleLoginDirs(tempRoot, context.clock.now(), maxAgeMs).filter((authDir) => !inUse.has(authDir));
  if (orphans.length === 0) return;
  // Unknown containers keep every dir: a login that still runs must not lose its mount.
  const containers = await listContainers(await context.engine(), { label: SESSION_LABEL }).catch(() => undefined);
  if (!containers) return;
  for (const authDir of orphans) {
    if (!containers.some((name) => loginDirOf(authDir, name))) removeLoginDir(authDir, tempRoot);
  }
}
