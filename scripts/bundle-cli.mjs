// `npm run build`, second step: bundles the CLI (tsc's dist/cli/main.js and everything it reaches)
// into dist/bin/, the `authctl` bin. Node pays per module file at start-up (resolve, read,
// compile): ~100 of ours plus zod's, yaml's and commander's become a handful of files. Modules the
// CLI imports lazily stay lazy: each dynamic import() becomes a chunk loaded when that code runs,
// and each command's module only when that command runs (src/cli/program.ts).
// Native and optional packages, and the big lazily loaded libraries, stay external (node_modules).
// The output is then turned into CommonJS (toCommonJs below): Node 20's ESM loader resolves and
// reads each module asynchronously, and that was over a quarter of `creds list`'s start.
import { build, transformSync } from "esbuild";
import { createRequire } from "node:module";
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

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
const BUNDLED = new Set(["commander", "zod"]);
const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})].filter((name) => !BUNDLED.has(name));

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
  plugins: [originalModuleUrl],
  metafile: true,
  logLevel: "warning",
};
// Everything but the entry: lazy imports stay lazy, each dynamic import() a chunk loaded when it runs.
const rest = await build({
  ...common,
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
  external: [...external, "./start.js"],
});
// test/startup.test.ts reads which sources each output holds and what it imports.
const meta = { inputs: { ...rest.metafile.inputs, ...entry.metafile.inputs }, outputs: { ...rest.metafile.outputs, ...entry.metafile.outputs } };
writeFileSync(join(STAGE, "meta.json"), JSON.stringify(meta).replaceAll(`${relative(REPO, STAGE)}/`, "dist/bin/"));

/**
 * Each output file as CommonJS, loaded with require() (synchronous, one cache lookup per file):
 * a static import of another output becomes a require(), a dynamic import() of one a require()
 * when that code runs. Packages stay import()ed where the source imported them lazily (some are
 * ES modules only); one imported statically must be require()-able, which is checked here.
 */
function toCommonJs(file) {
  const code = readFileSync(file, "utf8").replace(/\bimport\("(\.\/(?:chunk-[A-Z0-9]+|start)\.js)"\)/g, 'Promise.resolve().then(() => require("$1"))');
  const moduleUrl = code.includes("import.meta.url") ? 'const __authctlModuleUrl = require("node:url").pathToFileURL(__filename).href;' : "";
  const out = transformSync(code, { format: "cjs", platform: "node", target: "node20", define: { "import.meta.url": "__authctlModuleUrl" }, banner: moduleUrl, logLevel: "error" });
  writeFileSync(file, out.code);
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
// package.json says "type": "module": this one makes the .js files here CommonJS.
writeFileSync(join(STAGE, "package.json"), JSON.stringify({ type: "commonjs" }) + "\n");
rmSync(OUT, { recursive: true, force: true });
renameSync(STAGE, OUT);
