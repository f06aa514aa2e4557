import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureImage, imageExists, type Engine } from "../../engine/index.js";
import { UsageError } from "../../core/errors.js";
import { assertImageReference } from "../../core/imageRef.js";

/** `images/` in the package, resolved from dist/ or src/ alike. */
export const IMAGES_DIR = fileURLToPath(new URL("../../../images/", import.meta.url));
/** Makes a local base without a registry; the package ships it, so a message can name where it is. */
const BASE_SCRIPT = fileURLToPath(new URL("../../../scripts/build-auth-image.sh", import.meta.url));

export function imageKeys(): string[] {
  return readdirSync(IMAGES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(IMAGES_DIR, e.name, "Containerfile")))
    .map((e) => e.name)
    .sort();
}

export interface AuthImageOptions {
  /**
   * Image reference to build FROM (the Containerfile's `BASE` build arg); default: the
   * Containerfile's own. Part of the tag's hash, so name a base by its content (a new base
   * should get a new reference, as scripts/build-auth-image.sh does).
   */
  base?: string;
}

/** Builds `images/<key>` if its content tag is absent and returns that tag (`localhost/authctl-<key>:<hash>`). */
export async function ensureAuthImage(
  engine: Engine,
  key: string,
  onProgress?: (line: string) => void,
  options: AuthImageOptions = {},
): Promise<string> {
  const contextDir = join(IMAGES_DIR, key);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(key) || !existsSync(join(contextDir, "Containerfile"))) {
    throw new UsageError(`no image "${key}" under ${IMAGES_DIR} (known: ${imageKeys().join(", ")})`);
  }
  if (options.base !== undefined) assertImageReference(options.base, "--base");
  // A missing base would send the engine to a registry (unreachable, and never what a local base meant).
  if (options.base !== undefined && !(await imageExists(engine, options.base))) {
    throw new UsageError(`base image ${options.base} is not in ${engine.binary}'s local images; build it first (as root, \`bash ${BASE_SCRIPT}\` makes one with debootstrap)`);
  }
  const buildArgs: Record<string, string> = options.base === undefined ? {} : { BASE: options.base };
  return ensureImage(engine, { repo: `localhost/authctl-${key}`, contextDir, buildArgs, onProgress });
}
