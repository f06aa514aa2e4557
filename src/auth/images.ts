import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ensureImage, type Engine } from "../engine/index.js";

/** `images/` in the package, resolved from dist/ or src/ alike. */
export const IMAGES_DIR = fileURLToPath(new URL("../../images/", import.meta.url));

/** Builds `images/<key>` if its content tag is absent and returns that tag (`localhost/authctl-<key>:<hash>`). */
export function ensureAuthImage(engine: Engine, key: string, onProgress?: (line: string) => void): Promise<string> {
  return ensureImage(engine, { repo: `localhost/authctl-${key}`, contextDir: join(IMAGES_DIR, key), onProgress });
}
