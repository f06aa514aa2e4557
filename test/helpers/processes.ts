import { spawnSync } from "node:child_process";

/** Direct children of `pid` (optionally only those whose full command line matches `pattern`). */
export function childPids(pid: number, pattern?: string): number[] {
  const r = spawnSync("pgrep", ["-P", String(pid), ...(pattern ? ["-f", pattern] : [])], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

/** Polls until `pid` has a child (matching `pattern`), e.g. the program `script` runs in a pty. */
export async function waitForChild(pid: number, pattern?: string, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const [found] = childPids(pid, pattern);
    if (found !== undefined) return found;
    if (Date.now() - started > timeoutMs) throw new Error(`no child of ${pid}${pattern ? ` matching ${pattern}` : ""} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
