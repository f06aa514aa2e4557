import { lstatSync } from "node:fs";
import { dirname, join } from "node:path";

export const PROJECT_FILE = "authctl.yaml";

/**
 * The nearest `authctl.yaml` from `cwd` up to the filesystem root, if any. Apart from the file's
 * reader (projectFile.ts, which loads its schema and the key formats): a command that only needs
 * to know whether a project file applies loads neither.
 */
export function findProjectFile(cwd: string): string | undefined {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const candidate = join(dir, PROJECT_FILE);
    if (lstatSync(candidate, { throwIfNoEntry: false })) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
