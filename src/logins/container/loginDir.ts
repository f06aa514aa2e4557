import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { dir as tempDir } from "tmp-promise";
import { prepareMountDir, type Engine } from "../../engine/index.js";

const MOUNT = "mount";
const PREFIX = "authctl-";

/**
 * A login's temp dir: `<TMPDIR>/authctl-<provider>-XXXX/` (0700, the caller's) holding `mount/`,
 * the dir the container sees. On a rootful engine `mount/` belongs to the image's user (uid 1000),
 * and a host account with that same uid exists on many machines: the private parent is what keeps
 * that account from reading or replacing the captured token, for the login and while a prepared
 * session waits to be captured. Returns the mount dir (the session's `authDir`).
 */
export async function createLoginDir(provider: string, engine: Engine, containerUid: number, tmpRoot: string | undefined): Promise<string> {
  const { path: root } = await tempDir({ prefix: `${PREFIX}${provider}-`, tmpdir: tmpRoot || tmpdir(), mode: 0o700 });
  try {
    const mount = join(root, MOUNT);
    await mkdir(mount, { mode: 0o700 });
    prepareMountDir(mount, engine, containerUid);
    return mount;
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** Removes a login dir made by `createLoginDir` (its private parent too); idempotent. */
export async function removeLoginDir(authDir: string): Promise<void> {
  const root = dirname(authDir);
  const ours = basename(authDir) === MOUNT && basename(root).startsWith(PREFIX);
  await rm(ours ? root : authDir, { recursive: true, force: true });
}
