import { readdirSync, readFileSync } from "node:fs";
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

/** State and process group of `pid` from /proc (Linux), or undefined once it is gone. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const [state, , pgrp] = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").at(-1)!.split(" ");
    return { state: state!, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` still runs (a zombie, dead but not yet reaped, does not). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** Running processes in process group `pgid`. */
export function runningInGroup(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => procStat(pid)?.pgrp === pgid && isRunning(pid));
}
