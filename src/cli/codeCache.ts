import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import module from "node:module";
import { basename, dirname } from "node:path";
import vm from "node:vm";

/**
 * V8's code cache for the bin's own files, produced when the bin is built (scripts/bundle-cli.mjs
 * runs the hot commands once and keeps what V8 compiled) and shipped beside it in one file:
 * `{JSON index}\n` then each file's cache bytes. The pack is used only when its SHA-256 is the one
 * the build wrote into this module: Node 20's V8 checks a cache's header but not its bytes, and a
 * pack damaged past its header made every command die in V8's deserializer. A file is then
 * compiled with its cache when it has the length it was cached at; otherwise, or when V8 rejects
 * the cache (another V8, other flags), it is compiled as Node would. Node 20 has no compile cache
 * of its own (`module.enableCompileCache` is Node 22's).
 */
export type CodeCacheIndex = Record<string, { offset: number; length: number; sourceLength: number }>;

// The build replaces this (same length) with the pack's digest; all zeros matches no pack.
declare const __AUTHCTL_CODE_CACHE_SHA256__: string | undefined;
const PACK_SHA256 = typeof __AUTHCTL_CODE_CACHE_SHA256__ === "string" ? __AUTHCTL_CODE_CACHE_SHA256__ : undefined;
/** How many files V8 compiled from the pack: read by test/code-cache.test.ts, never printed. */
const ACCEPTED = Symbol.for("authctl.codeCache.accepted");

/** What the build's training run reads back: each file's script, to ask V8 for its cache at exit. */
const TRAINING = Symbol.for("authctl.codeCache.training");
/**
 * The caches the build's earlier training runs produced, by file: a run compiles from them, so a
 * file several commands share (hot.js) ends up cached with what each of them ran, not one's only.
 */
const TRAINING_SEED = Symbol.for("authctl.codeCache.trainingSeed");

interface CompilingModule {
  exports: unknown;
  require(id: string): unknown;
}
type Compile = (this: CompilingModule, content: string, filename: string) => unknown;

export function readPack(file: string, sha256: string): { files: CodeCacheIndex; bytes: Buffer } | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  if (createHash("sha256").update(bytes).digest("hex") !== sha256) return undefined;
  const indexEnd = bytes.indexOf(10);
  try {
    return { files: JSON.parse(bytes.subarray(0, indexEnd).toString("utf8")) as CodeCacheIndex, bytes: bytes.subarray(indexEnd + 1) };
  } catch {
    return undefined;
  }
}

/** Compiles the bin's files (those beside `packFile`) with the pack's caches from here on. */
export function useCodeCache(packFile: string): void {
  const training = (globalThis as Record<symbol, Map<string, vm.Script> | undefined>)[TRAINING];
  // Training compiles every file of the bin through vm (no pack yet) and keeps its script.
  const read = training || PACK_SHA256 === undefined ? undefined : readPack(packFile, PACK_SHA256);
  if (!training && !read) return;
  const counts = globalThis as Record<symbol, number | undefined>;
  const dir = dirname(packFile);
  const proto = (module as unknown as { prototype: { _compile: Compile } }).prototype;
  const nodeCompile = proto._compile;
  proto._compile = function (content, filename) {
    const entry = read?.files[basename(filename)];
    // A file still holding an import() (a package that is an ES module only) is left to Node: a vm
    // script needs Node's experimental main-context loader for it, which warns on stderr.
    const ours = dirname(filename) === dir && !content.startsWith("#!") && !content.includes("import(");
    if (!ours || (!training && (!entry || entry.sourceLength !== content.length))) return nodeCompile.call(this, content, filename);
    const seed = training && (globalThis as Record<symbol, Map<string, Buffer> | undefined>)[TRAINING_SEED]?.get(basename(filename));
    const cachedData = seed ?? (entry && read ? read.bytes.subarray(entry.offset, entry.offset + entry.length) : undefined);
    const script = new vm.Script(module.wrap(content), { filename, ...(cachedData ? { cachedData } : {}) });
    training?.set(basename(filename), script);
    if (cachedData && !script.cachedDataRejected) counts[ACCEPTED] = (counts[ACCEPTED] ?? 0) + 1;
    const wrapper = script.runInThisContext() as (...args: unknown[]) => unknown;
    const self = this;
    // What Node's own require offers a module, for code (commander's) that reads require.main or resolves.
    const nodeModule = module as unknown as { _cache: unknown; _resolveFilename(request: string, parent: unknown): string };
    const requireHere = Object.assign((id: string) => self.require(id), {
      cache: nodeModule._cache,
      main: process.mainModule,
      resolve: (request: string) => nodeModule._resolveFilename(request, self),
    });
    return wrapper.call(this.exports, this.exports, requireHere, this, filename, dirname(filename));
  };
}
