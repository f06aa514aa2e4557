import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureImage, type Engine } from "../../engine/index.js";
import { UsageError } from "../../core/errors.js";

/** `images/` in the package, resolved from dist/ or src/ alike. */
export const IMAGES_DIR = fileURLToPath(new URL("../../../images/", import.meta.url));

export function imageKeys(): string[] {
  return readdirSync(IMAGES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(IMAGES_DIR, e.name, "Containerfile")))
    .map((e) => e.name)
    .sort();
}

/** Builds `images/<key>` if its content tag is absent and returns that tag (`localhost/authctl-<key>:<hash>`). */
export function ensureAuthImage(engine: Engine, key: string, onProgress?: (line: string) => void): Promise<string> {
  const contextDir = join(IMAGES_DIR, key);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(key) || !existsSync(join(contextDir, "Containerfile"))) {
    throw new UsageError(`no image "${key}" under ${IMAGES_DIR} (known: ${imageKeys().join(", ")})`);
  }
  return ensureImage(engine, { repo: `localhost/authctl-${key}`, contextDir, onProgress });
}
