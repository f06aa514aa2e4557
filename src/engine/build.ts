import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { execa } from "execa";
import { EngineError } from "../errors.js";
import { imageExists } from "./backend.js";
import type { Engine } from "./detect.js";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** `<repo>:<12 hex of sha256 over the context's paths and bytes>`: a changed Containerfile gets a new tag. */
export function contentTag(repo: string, dir: string): string {
  const hash = createHash("sha256");
  for (const file of filesUnder(dir)) {
    hash.update(relative(dir, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return `${repo}:${hash.digest("hex").slice(0, 12)}`;
}

export interface BuildImageOptions {
  contextDir: string;
  containerfile?: string;
  tag: string;
  labels?: Record<string, string>;
  onProgress?: (line: string) => void;
}

/** Builds with the engine CLI (it streams progress); a failure carries the build's last lines. */
export async function buildImage(engine: Engine, o: BuildImageOptions): Promise<void> {
  const args = ["build", "-f", o.containerfile ?? join(o.contextDir, "Containerfile"), "-t", o.tag];
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push("--label", `${k}=${v}`);
  args.push(o.contextDir);
  const tail: string[] = [];
  const child = execa(engine.binary, args, { reject: false, stdin: "ignore", all: true, lines: false });
  let partial = "";
  child.all?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 15) tail.shift();
      o.onProgress?.(line);
    }
  });
  const result = await child;
  if (result.exitCode !== 0) {
    throw new EngineError(`building ${o.tag} failed (exit ${result.exitCode}):\n${[...tail, partial].join("\n").trim()}`);
  }
}

/** Returns the content tag of `contextDir`, building it only when the engine does not have it. */
export async function ensureImage(
  engine: Engine,
  o: { repo: string; contextDir: string; onProgress?: (line: string) => void },
): Promise<string> {
  const tag = contentTag(o.repo, o.contextDir);
  if (!(await imageExists(engine, tag))) {
    o.onProgress?.(`Building ${tag} (first use; later logins reuse it)…`);
    await buildImage(engine, { contextDir: o.contextDir, tag, onProgress: o.onProgress, labels: { "org.authctl.image": o.repo } });
  }
  return tag;
}
