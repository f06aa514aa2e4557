import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { EngineError } from "../core/errors.js";
import { imageExists } from "./containers.js";
import type { Engine } from "./detect.js";

/** Relative paths (with `/`) of every file and symlink under `dir`, in code-unit order. */
function contextEntries(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) return contextEntries(dir, rel);
    return e.isFile() || e.isSymbolicLink() ? [rel] : [];
  });
}

/**
 * `<repo>:<first 12 hex of sha256 over the sorted relative paths and bytes of every file in dir>`,
 * so editing the Containerfile or anything in its context yields a new tag (and a rebuild).
 */
export function contentTag(repo: string, dir: string, buildArgs: Record<string, string> = {}): string {
  const hash = createHash("sha256");
  // Build args change what gets built (e.g. the base image), so they are part of the content.
  for (const [k, v] of Object.entries(buildArgs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) hash.update(`arg:${k}=${v}\0`);
  for (const rel of contextEntries(dir).sort()) {
    const path = join(dir, rel);
    const bytes = lstatSync(path).isSymbolicLink() ? Buffer.from(`symlink:${readlinkSync(path)}`) : readFileSync(path);
    hash.update(`${rel}\0${bytes.length}\0`).update(bytes);
  }
  return `${repo}:${hash.digest("hex").slice(0, 12)}`;
}

export interface BuildImageOptions {
  contextDir: string;
  /** Relative to contextDir unless absolute; default `Containerfile` (or `Dockerfile` if only that exists). */
  containerfile?: string;
  tag: string;
  labels?: Record<string, string>;
  /** `--build-arg k=v` each (e.g. BASE for images/auth). */
  buildArgs?: Record<string, string>;
  /** Each line of the build's stdout and stderr, as it comes. */
  onProgress?: (line: string) => void;
}

function containerfileFor(o: BuildImageOptions): string {
  if (o.containerfile) return isAbsolute(o.containerfile) ? o.containerfile : resolve(o.contextDir, o.containerfile);
  const containerfile = resolve(o.contextDir, "Containerfile");
  const dockerfile = resolve(o.contextDir, "Dockerfile");
  return !existsSync(containerfile) && existsSync(dockerfile) ? dockerfile : containerfile;
}

const TAIL_LINES = 20;

/**
 * `<engine> build --force-rm -f <file> -t <tag> [--label k=v…] <ctx>` through the CLI (even when an API socket
 * exists: it streams progress). A failure throws EngineError carrying the build's last lines.
 */
export async function buildImage(engine: Engine, o: BuildImageOptions): Promise<void> {
  const { execa } = await import("execa");
  // --force-rm: docker keeps a failed step's intermediate container otherwise (podman's default).
  const args = ["build", "--force-rm", "-f", containerfileFor(o), "-t", o.tag];
  // authctl never pulls; docker has no such switch, so callers check the base is local first.
  if (engine.name === "podman") args.push("--pull=never");
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push("--label", `${k}=${v}`);
  for (const [k, v] of Object.entries(o.buildArgs ?? {})) args.push("--build-arg", `${k}=${v}`);
  args.push(resolve(o.contextDir));

  const child = execa(engine.binary, args, { reject: false, stdin: "ignore", all: true, buffer: false, env: engine.env, extendEnv: false });
  const tail: string[] = [];
  const lines = child.all ? createInterface({ input: child.all, crlfDelay: Infinity }) : undefined;
  lines?.on("line", (raw: string) => {
    const line = raw.split("\r").at(-1) ?? ""; // progress bars redraw with \r: keep the last state
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    try {
      o.onProgress?.(line);
    } catch {
      /* a failing progress callback must not break the build */
    }
  });
  const [result] = await Promise.all([child, lines ? new Promise((r) => lines.once("close", r)) : undefined]);
  if (result.exitCode !== 0) {
    const why = result.exitCode === undefined ? result.shortMessage : `exit ${result.exitCode}`;
    throw new EngineError(`building image ${o.tag} with ${engine.binary} failed (${why}):\n${tail.join("\n").trim()}`);
  }
}

export interface EnsureImageOptions {
  repo: string;
  contextDir: string;
  buildArgs?: Record<string, string>;
  onProgress?: (line: string) => void;
}

/** Returns `contentTag(repo, contextDir, buildArgs)`, building it first only when the engine lacks that image. */
export async function ensureImage(engine: Engine, o: EnsureImageOptions): Promise<string> {
  const tag = contentTag(o.repo, o.contextDir, o.buildArgs);
  if (!(await imageExists(engine, tag))) {
    o.onProgress?.(`Building ${tag} (first use; later runs reuse it)…`);
    await buildImage(engine, {
      contextDir: o.contextDir,
      tag,
      buildArgs: o.buildArgs,
      onProgress: o.onProgress,
      labels: { "org.authctl.image": o.repo },
    });
  }
  return tag;
}
