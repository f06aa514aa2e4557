import { execFile } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { inject } from "vitest";

/** A stack trace line in CLI output (`    at fn (file.js:1:2)`): the CLI must never print one. */
export const STACK_TRACE = /\n\s+at /;

/** How many times `needle` occurs in `haystack` (bytes or text). */
export function countOccurrences(haystack: Buffer | string, needle: string): number {
  const hay = typeof haystack === "string" ? Buffer.from(haystack, "utf8") : haystack;
  const n = Buffer.from(needle, "utf8");
  let count = 0;
  for (let at = hay.indexOf(n); at !== -1; at = hay.indexOf(n, at + 1)) count++;
  return count;
}

/**
 * Every regular file under `root` (symlinks are not followed, and listed as such) whose raw bytes
 * contain `needle`, as paths relative to root. `exclude` takes absolute dirs or files to skip.
 * The machine's shared temp dir (or a dir above it) is refused: what other work left there makes
 * the scan slow and its result not this test's; a test scans its home and tmpdir(), which
 * test/setup/tmpdir.ts makes per file.
 */
export function filesContaining(root: string, needle: string, exclude: string[] = []): string[] {
  const shared = inject("sharedTmpdir");
  const fromRoot = shared === undefined ? ".." : relative(resolve(root), resolve(shared));
  if (fromRoot === "" || (!fromRoot.startsWith("..") && !isAbsolute(fromRoot))) {
    throw new Error(`filesContaining: ${root} holds the machine's shared temp dir ${shared}; scan the test's home and tmpdir() (its own TMPDIR) instead`);
  }
  const skip = new Set(exclude.map((p) => resolve(p)));
  const hits: string[] = [];
  const visit = (path: string) => {
    if (skip.has(resolve(path))) return;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed while walking
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else if (st.isSymbolicLink()) {
      return;
    } else if (st.isFile()) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch {
        return;
      }
      if (countOccurrences(bytes, needle) > 0) hits.push(relative(root, path) || ".");
    }
  };
  if (existsSync(root)) visit(root);
  return hits;
}

/** Every path (files, dirs, symlinks) under `root`, relative, for "nothing left behind" messages. */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const visit = (path: string) => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      out.push(relative(root, full));
      if (lstatSync(full).isDirectory()) visit(full);
    }
  };
  if (existsSync(root)) visit(root);
  return out;
}

export interface PsSampler {
  /** Stops sampling and returns every distinct `ps -eo args` line seen, plus how many samples ran. */
  stop(): Promise<{ lines: string[]; samples: number }>;
}

/**
 * Samples the argv of every process on the machine (`ps -eo args`) about every `intervalMs`
 * until stopped: a secret passed as a command-line argument to any child would show up here.
 */
export function startPsSampler(intervalMs = 20): PsSampler {
  const lines = new Set<string>();
  let samples = 0;
  let running = true;
  const sampleOnce = () =>
    new Promise<void>((done) => {
      execFile("ps", ["-eo", "args", "--no-headers", "-ww"], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
        if (!err) {
          samples++;
          for (const line of stdout.split("\n")) if (line) lines.add(line);
        }
        done();
      });
    });
  const loop = (async () => {
    while (running) {
      await sampleOnce();
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    await sampleOnce();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { lines: [...lines], samples };
    },
  };
}
