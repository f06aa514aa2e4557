// `npm run build`, second step: bundles the CLI (tsc's dist/cli/main.js and everything it reaches)
// into dist/bin/, the `authctl` bin. Node pays per module file at start-up (resolve, read,
// compile): ~100 of ours plus zod's, yaml's and commander's become a handful of files. Modules the
// CLI imports lazily stay lazy: each dynamic import() becomes a chunk loaded when that code runs,
// and each command's module only when that command runs (src/cli/program.ts).
// Native and optional packages, and the big lazily loaded libraries, stay external (node_modules).
// The output is then turned into CommonJS (toCommonJs below): Node 20's ESM loader resolves and
// reads each module asynchronously, and that was over a quarter of `creds list`'s start.
import { build, transformSync } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(REPO, "dist/bin");
// Built beside it and renamed into place at the end: a CLI started meanwhile (another build
// running while tests run) finds the old bin or the new one, never half of one.
const STAGE = join(REPO, `dist/bin.stage-${process.pid}`);
const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
/**
 * On the start path of most commands: bundled. Every other dependency is loaded from node_modules
 * as before — yaml too: the roster loader requires it only when a YAML file must be parsed.
 */
const BUNDLED = new Set(["commander", "zod", "better-sqlite3"]);
// better-sqlite3's own dependency: it finds the native addon, which stays in node_modules (below).
const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {}), "bindings"].filter((name) => !BUNDLED.has(name));

/**
 * better-sqlite3's JavaScript is bundled (required from node_modules it was a dozen files, and
 * with commander the largest part of every store-reading command's start); its native addon is
 * not. Its loader, `bindings`, looks for the addon beside the package that called it, found from
 * the caller's file name: once bundled, that is dist/bin, so it is told the package's own
 * directory (where npm installed better-sqlite3) and looks through the same places as before.
 */
const SQLITE_ADDON_CALL = "require('bindings')('better_sqlite3.node')";
const sqliteAddonFromPackage = {
  name: "sqlite-addon-from-package",
  setup(b) {
    b.onLoad({ filter: /[\\/]better-sqlite3[\\/]lib[\\/]database\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes(SQLITE_ADDON_CALL)) throw new Error(`${args.path}: better-sqlite3 no longer loads its addon with ${SQLITE_ADDON_CALL}: update scripts/bundle-cli.mjs`);
      const root = 'require("node:path").dirname(require.resolve("better-sqlite3/package.json"))';
      const call = `((root) => require(require.resolve("bindings", { paths: [root] }))({ bindings: "better_sqlite3.node", module_root: root }))(${root})`;
      return { contents: text.replace(SQLITE_ADDON_CALL, call), loader: "js" };
    });
  },
};

/**
 * zod is a file of its own (zod.js), loaded the first time a schema is built or a zod value is
 * read: most modules declaring schemas are on every command's start path (the roster, the service
 * protocol, the project file), their schemas built on first use (src/core/lazy.ts), yet loading
 * zod's module alone cost a fifth of `node -e 0`. Each `import * as z from "zod"` becomes a stand-in
 * (lazyModule below) whose first property read requires zod.js.
 */
const ZOD_FILE = "./zod.js";
const zodApart = {
  name: "zod-apart",
  setup(b) {
    b.onResolve({ filter: /^zod$/ }, () => ({ path: ZOD_FILE, external: true }));
  },
};

/**
 * `new URL("../../resources/agents/", import.meta.url)` must keep meaning "beside the module as
 * tsc laid it out" once that module lives in dist/bin/: each import.meta.url of our code becomes the
 * URL of its original file, relative to dist/bin/ (every output file is written there, no subfolders).
 */
const originalModuleUrl = {
  name: "original-module-url",
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const rel = relative(STAGE, args.path).split("\\").join("/");
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: "js" };
    });
  },
};

rmSync(STAGE, { recursive: true, force: true });
const common = {
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [originalModuleUrl, zodApart, sqliteAddonFromPackage],
  metafile: true,
  logLevel: "warning",
};
// Replaced by the code cache's SHA-256 once it is written (trainCodeCache below, src/cli/codeCache.ts).
const NO_PACK_SHA256 = "0".repeat(64);
// Everything but the entry: lazy imports stay lazy, each dynamic import() a chunk loaded when it runs.
const rest = await build({
  ...common,
  define: { __AUTHCTL_CODE_CACHE_SHA256__: JSON.stringify(NO_PACK_SHA256) },
  // docker-credential-authctl: docker's credential helper, its own bin sharing the chunks.
  entryPoints: { start: join(REPO, "dist/cli/start.js"), "docker-credential-authctl": join(REPO, "dist/cli/dockerCredentialMain.js") },
  outdir: STAGE,
  splitting: true,
  external,
  chunkNames: "chunk-[hash]",
});
// The entry alone, in one file: `authctl --version` reads nothing else (its version string is
// copied in, not shared with a chunk), and any other command imports ./start.js.
const entry = await build({
  ...common,
  entryPoints: { authctl: join(REPO, "dist/cli/main.js") },
  outdir: STAGE,
  external: [...external, "./start.js", "./serviceAnswer.js"],
});
// `token` and `git-credential get` answered by a running service (src/cli/serviceAnswer.ts): one
// file the entry requires before start.js, not the ~20 chunks its modules sit in (each file costs
// its resolve, read and compile: 2.08x -> 1.72x of `node -e 0` in one measured run).
const serviceAnswer = await build({
  ...common,
  entryPoints: { serviceAnswer: join(REPO, "dist/cli/serviceAnswer.js") },
  outdir: STAGE,
  external,
});
/**
 * zod.js holds what our modules read off zod's namespace (`z.string`, `z.object`, …): a whole-zod
 * entry would keep every export, locales included (four times the size).
 */
function zodNamesUsed(inputs) {
  const names = new Set();
  for (const [input, { imports }] of Object.entries(inputs)) {
    if (!imports.some((edge) => edge.path === ZOD_FILE)) continue;
    const text = readFileSync(join(REPO, input), "utf8");
    const namespace = text.match(/^import \* as ([\w$]+) from "zod";$/m)?.[1];
    if (!namespace) throw new Error(`${input}: zod is imported in a form the bundler cannot defer (use \`import * as z from "zod"\`)`);
    for (const m of text.matchAll(new RegExp(`(?<![\\w$.])${namespace.replace("$", "\\$")}\\.([A-Za-z_$][\\w$]*)`, "g"))) names.add(m[1]);
  }
  return [...names].sort();
}
const zodNames = zodNamesUsed({ ...rest.metafile.inputs, ...entry.metafile.inputs, ...serviceAnswer.metafile.inputs });
const zod = await build({
  ...common,
  plugins: [],
  stdin: { contents: `export { ${zodNames.join(", ")} } from "zod";\n`, resolveDir: REPO, sourcefile: "zod-used-by-authctl.js" },
  outfile: join(STAGE, "zod.js"),
});
// test/startup.test.ts reads which sources each output holds and what it imports.
const builds = [rest, entry, zod, serviceAnswer];
const meta = { inputs: Object.assign({}, ...builds.map((b) => b.metafile.inputs)), outputs: Object.assign({}, ...builds.map((b) => b.metafile.outputs)) };
writeFileSync(join(STAGE, "meta.json"), JSON.stringify(meta).replaceAll(`${relative(REPO, STAGE)}/`, "dist/bin/"));

/**
 * Each output file as CommonJS, loaded with require() (synchronous, one cache lookup per file):
 * a static import of another output becomes a require(), a dynamic import() of one a require()
 * when that code runs. Packages stay import()ed where the source imported them lazily (some are
 * ES modules only); one imported statically must be require()-able, which is checked here.
 */
function toCommonJs(file) {
  const code = readFileSync(file, "utf8").replace(/\bimport\("(\.\/(?:chunk-[A-Z0-9]+|start|serviceAnswer)\.js)"\)/g, 'Promise.resolve().then(() => require("$1"))');
  const moduleUrl = code.includes("import.meta.url") ? 'const __authctlModuleUrl = require("node:url").pathToFileURL(__filename).href;' : "";
  const out = transformSync(code, { format: "cjs", platform: "node", target: "node20", define: { "import.meta.url": "__authctlModuleUrl" }, banner: moduleUrl, logLevel: "error" });
  writeFileSync(file, loadOnFirstUse(out.code, file));
}

/**
 * Modules most commands import but few use, loaded on first use instead of at start-up: zod (see
 * zodApart), and the Node built-ins only some commands call (child_process: commander's own
 * `require` for executable subcommands, which authctl has none of, and the store's key helpers;
 * worker_threads: the PostgreSQL backend and the in-run service call; https: the engine's API
 * client (src/core/http.ts) speaks plain HTTP on a Unix socket, and only host logins reach an https
 * URL; tty: whether stdin is a terminal (src/core/terminal.ts), asked by the commands that may
 * prompt, while loading it (and net, which it requires) costs every command ≈ 5 ms). Each of the
 * first two loaded up front cost about a tenth of `node -e 0`; https ≈ 2-5 ms of CPU on `authctl
 * auth`'s way to its container (it loads tls with it). Only a whole-module binding
 * (`var x = require(…)`) is replaced: its every use is a property read, which the stand-in forwards.
 */
const LAZY_BUILTINS = ["child_process", "worker_threads", "https", "tty"];
const LAZY_MODULE = `const __authctlLazyModule = (load) => { let loaded; const real = () => (loaded ??= load()); return new Proxy({}, { get: (_, key) => real()[key], has: (_, key) => key in real(), ownKeys: () => Reflect.ownKeys(real()), getOwnPropertyDescriptor: (_, key) => { const d = Reflect.getOwnPropertyDescriptor(real(), key); return d && { ...d, configurable: true }; } }); };\n`;
function loadOnFirstUse(code, file) {
  const builtins = new RegExp(`^(\\s*var [\\w$]+ = )(?:require|\\(0, import_chunk_[A-Z0-9]+\\.__require\\))\\("(node:(?:${LAZY_BUILTINS.join("|")}))"\\);$`, "gm");
  const zodImport = /^(var [\w$]+ = )__toESM\(require\("\.\/zod\.js"\)\);$/gm;
  let replaced = 0;
  let zodDeferred = 0;
  const out = code
    .replace(builtins, (_, head, spec) => (replaced++, `${head}__authctlLazyModule(() => require("${spec}"));`))
    .replace(zodImport, (_, head) => (replaced++, zodDeferred++, `${head}__authctlLazyModule(() => require("${ZOD_FILE}"));`));
  // Any other form would load zod with this file, silently undoing the split.
  if (code.split(`require("${ZOD_FILE}")`).length - 1 !== zodDeferred) throw new Error(`${relative(REPO, file)}: zod is imported in a form the bundler cannot defer (use \`import * as z from "zod"\`)`);
  if (replaced === 0) return out;
  const strict = out.startsWith('"use strict";\n') ? '"use strict";\n' : "";
  return strict + LAZY_MODULE + out.slice(strict.length);
}
const requireFromRepo = createRequire(join(REPO, "package.json"));
for (const output of Object.values(meta.outputs)) {
  for (const edge of output.imports) {
    if (!edge.external || edge.kind === "dynamic-import" || edge.path.startsWith("node:") || edge.path.startsWith(".")) continue;
    try {
      requireFromRepo.resolve(edge.path);
    } catch (error) {
      throw new Error(`the CLI bundle imports ${edge.path} statically, but it cannot be require()d (${error.code}): import it with await import() where it is used`);
    }
  }
}
for (const name of readdirSync(STAGE)) if (name.endsWith(".js")) toCommonJs(join(STAGE, name));

/**
 * The chunks the commands called most load, packed into a few files: each file Node requires costs
 * its resolve (stat, realpath, package scope), read and compile, about a quarter of a millisecond
 * of CPU even for a tiny one, and each of those commands loaded 30 of them. Each chunk stays a
 * module of its own, run when first required as before (a pack only holds their functions),
 * entered in require.cache under its old file name so load hooks and tests still see which ran.
 * Two packs, not one: V8 deserializes a file's whole code cache when it compiles the file, so
 * `creds list` and `status` would pay for `run`'s code too (measured: 0.15-0.2x of `node -e 0`).
 * Each pack lists the modules whose chunks its commands load, statically or through an import()
 * on their way (each one's static imports come along); a chunk goes to the first pack reaching it.
 */
const HOT_PACKS = [
  { file: "hot.js", sources: ["dist/cli/program.js", "dist/cli/io.js", "dist/cli/commands/creds.js", "dist/cli/commands/status.js", "dist/access/status.js", "dist/access/projectLookup.js"] },
  {
    file: "hot-access.js",
    sources: [
      ...["dist/cli/commands/token.js", "dist/cli/commands/git-credential.js", "dist/cli/commands/run.js", "dist/access/storedCredential.js", "dist/access/freshness.js"],
      ...["dist/access/references.js", "dist/run/run.js", "dist/helpers/gitAnswer.js", "dist/helpers/gitCredential.js", "dist/helpers/gitHosts.js"],
    ],
  },
];
function packHotChunks() {
  const outputs = rest.metafile.outputs;
  const nameOf = (out) => out.split("/").pop();
  // What start.js loads before it installs the code cache stays apart: packed with it, a pack would be compiled without its cache.
  const early = new Set();
  const visitEarly = (out) => {
    if (early.has(out)) return;
    early.add(out);
    for (const edge of outputs[out].imports) if (edge.kind === "import-statement" && !edge.external) visitEarly(edge.path);
  };
  const startOut = Object.keys(outputs).find((out) => outputs[out].entryPoint === "dist/cli/start.js");
  visitEarly(startOut);
  /** Chunk file name -> the pack holding it. */
  const packOf = new Map();
  for (const [index, { file, sources }] of HOT_PACKS.entries()) {
    const seen = new Set();
    const visit = (out) => {
      const name = nameOf(out);
      if (seen.has(name) || !name.startsWith("chunk-") || early.has(out)) return;
      seen.add(name);
      // A chunk still holding an import() (an ES-module-only package) would keep the whole file from the code cache (src/cli/codeCache.ts).
      if (!packOf.has(name) && !readFileSync(join(STAGE, name), "utf8").includes("import(")) packOf.set(name, file);
      for (const edge of outputs[out].imports) {
        if (edge.external) continue;
        if (edge.kind === "import-statement") visit(edge.path);
        // A chunk of re-exports only, which an import() on the way loads: tiny, so packed whatever it re-exports.
        else if (edge.kind === "dynamic-import" && Object.keys(outputs[edge.path].inputs).length === 0 && !early.has(edge.path) && !packOf.has(nameOf(edge.path))) {
          if (!readFileSync(join(STAGE, nameOf(edge.path)), "utf8").includes("import(")) packOf.set(nameOf(edge.path), file);
        }
      }
    };
    for (const [out, { inputs }] of Object.entries(outputs)) if (sources.some((source) => source in inputs)) visit(out);
    // What start.js imports once the cache is in place (program.js, and io.js through a re-export chunk of its own).
    if (index === 0) for (const edge of outputs[startOut].imports) if (edge.kind === "dynamic-import") visit(edge.path);
  }
  // A require of a packed chunk from outside its pack goes through that pack's loader.
  const requireOf = /\brequire\("\.\/(chunk-[A-Z0-9]+\.js)"\)/g;
  const texts = new Map();
  for (const name of readdirSync(STAGE)) {
    if (!name.endsWith(".js")) continue;
    const code = readFileSync(join(STAGE, name), "utf8");
    const own = packOf.get(name);
    texts.set(name, code.replace(requireOf, (whole, chunk) => (packOf.has(chunk) && packOf.get(chunk) !== own ? `require("./${packOf.get(chunk)}")("./${chunk}")` : whole)));
  }
  for (const { file } of HOT_PACKS) {
    const members = [...packOf].filter(([, pack]) => pack === file).map(([name]) => name).sort();
    const factories = members.map((name) => `${JSON.stringify(`./${name}`)}: function (exports, require, module, __filename, __dirname) {\n${texts.get(name)}\n}`);
    writeFileSync(
      join(STAGE, file),
      `const __authctlFactories = {\n${factories.join(",\n")}\n};\n` +
        `const __authctlOuter = require;\nconst __authctlModule = require("node:module");\n` +
        `function __authctlLoad(id) {\n` +
        `  const factory = __authctlFactories[id];\n  if (!factory) return __authctlOuter(id);\n` +
        `  const filename = require("node:path").join(__dirname, id);\n  const cached = __authctlOuter.cache[filename];\n  if (cached) return cached.exports;\n` +
        `  const m = new __authctlModule(filename, module);\n  m.filename = filename;\n  m.paths = module.paths;\n  __authctlOuter.cache[filename] = m;\n` +
        `  const inner = Object.assign((request) => __authctlLoad(request), { cache: __authctlOuter.cache, main: __authctlOuter.main, resolve: __authctlOuter.resolve });\n` +
        `  try {\n    factory.call(m.exports, m.exports, inner, m, filename, __dirname);\n  } catch (error) {\n    delete __authctlOuter.cache[filename];\n    throw error;\n  }\n  m.loaded = true;\n  return m.exports;\n}\n` +
        `module.exports = __authctlLoad;\n`,
    );
  }
  for (const [name, text] of texts) {
    if (packOf.has(name)) rmSync(join(STAGE, name));
    else if (text !== readFileSync(join(STAGE, name), "utf8")) writeFileSync(join(STAGE, name), text);
  }
  return Object.fromEntries(HOT_PACKS.map(({ file }) => [`dist/bin/${file}`, [...packOf].filter(([, pack]) => pack === file).map(([name]) => `dist/bin/${name}`).sort()]));
}
const packed = packHotChunks();
writeFileSync(join(STAGE, "meta.json"), JSON.stringify({ ...meta, packed }).replaceAll(`${relative(REPO, STAGE)}/`, "dist/bin/"));
// package.json says "type": "module": this one makes the .js files here CommonJS.
writeFileSync(join(STAGE, "package.json"), JSON.stringify({ type: "commonjs" }) + "\n");

/**
 * V8's code cache for the bin (src/cli/codeCache.ts reads it): the commands scripts, git and agents
 * call often run once here, in a throwaway home, each file compiled through vm; at exit V8 hands
 * over what it compiled, functions run included. Each run compiles from the caches of the runs
 * before it, so the last run's cache of a shared file holds what all of them ran; per file the
 * largest cache is kept. A failed run leaves the bin without a cache, never without a bin.
 */
async function trainCodeCache() {
  const scratch = mkdtempSync(join(tmpdir(), "authctl-code-cache-"));
  try {
    const home = join(scratch, "home");
    const out = join(scratch, "caches");
    mkdirSync(out);
    mkdirSync(home, { mode: 0o700 });
    const { Authctl, storeApiKey } = await import(pathToFileURL(join(REPO, "dist/index.js")).href);
    const context = new Authctl({ env: {}, home });
    storeApiKey("openai", "sk-code-cache-training-0123456789", { context });
    storeApiKey("gh", "ghp_code_cache_training_0000000000000", { context });
    context.close();
    const hook = join(scratch, "train.cjs");
    writeFileSync(
      hook,
      `const scripts = new Map(); globalThis[Symbol.for("authctl.codeCache.training")] = scripts;\n` +
        // Each run starts from the largest cache of each file so far (what the runs before it compiled).
        `const fs = require("fs"), seed = new Map(); globalThis[Symbol.for("authctl.codeCache.trainingSeed")] = seed;\n` +
        `for (const name of fs.readdirSync(${JSON.stringify(out)})) { const file = name.replace(/\\.\\d+$/, ""), bytes = fs.readFileSync(require("path").join(${JSON.stringify(out)}, name)); if (bytes.length > (seed.get(file)?.length ?? 0)) seed.set(file, bytes); }\n` +
        `process.on("exit", () => { for (const [name, script] of scripts) require("fs").writeFileSync(require("path").join(${JSON.stringify(out)}, name + "." + process.pid), script.createCachedData()); });\n`,
    );
    const env = { PATH: process.env.PATH, HOME: scratch, AUTHCTL_HOME: home, TMPDIR: scratch, NO_COLOR: "1" };
    const runs = [
      [["token", "openai"]],
      [["git-credential", "get"], "protocol=https\nhost=github.com\n\n"],
      [["run", "--no-token", "--", "true"]],
      [["status"]],
      [["creds", "list"]],
    ];
    for (const [args, input] of runs) {
      const result = spawnSync(process.execPath, ["--require", hook, join(STAGE, "authctl.js"), ...args], { env, input, encoding: "utf8" });
      if (result.status !== 0) throw new Error(`authctl ${args.join(" ")} exited ${result.status}: ${result.stderr.split("\n")[0]}`);
    }
    const best = new Map();
    for (const name of readdirSync(out)) {
      const file = name.replace(/\.\d+$/, "");
      const bytes = readFileSync(join(out, name));
      if (bytes.length > (best.get(file)?.length ?? 0)) best.set(file, bytes);
    }
    const files = {};
    let offset = 0;
    for (const [file, bytes] of best) {
      files[file] = { offset, length: bytes.length, sourceLength: readFileSync(join(STAGE, file), "utf8").length };
      offset += bytes.length;
    }
    const pack = Buffer.concat([Buffer.from(`${JSON.stringify(files)}\n`), ...best.values()]);
    const sha256 = createHash("sha256").update(pack).digest("hex");
    // The loader holds the digest, so a pack is used only as written here (never damaged, never another build's).
    const holders = readdirSync(STAGE).filter((name) => name.endsWith(".js") && readFileSync(join(STAGE, name), "utf8").includes(NO_PACK_SHA256));
    if (holders.length !== 1) throw new Error(`the code cache's digest belongs in one file, found in ${holders.length}`);
    if (Object.hasOwn(files, holders[0])) throw new Error(`${holders[0]} holds the code cache's digest, so it must load before the cache is used`);
    const holder = join(STAGE, holders[0]);
    writeFileSync(join(STAGE, "code-cache.bin"), pack);
    writeFileSync(holder, readFileSync(holder, "utf8").replace(NO_PACK_SHA256, sha256));
  } catch (error) {
    console.warn(`bundle-cli: the bin is built without a code cache: ${error.message}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
await trainCodeCache();
rmSync(OUT, { recursive: true, force: true });
renameSync(STAGE, OUT);
