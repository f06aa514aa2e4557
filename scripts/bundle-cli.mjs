// `npm run build`, second step: bundles the CLI (tsc's dist/cli/main.js and everything it reaches)
// into dist/bin/, the `authctl` bin. Node pays per module file at start-up (resolve, read,
// compile): ~100 of ours plus zod's, yaml's and commander's become a handful of files. Modules the
// CLI imports lazily stay lazy: each dynamic import() becomes a chunk loaded when that code runs,
// and each command's module only when that command runs (src/cli/program.ts).
// Native and optional packages, and the big lazily loaded libraries, stay external (node_modules).
import { build } from "esbuild";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(REPO, "dist/bin");
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
      const rel = relative(OUT, args.path).split("\\").join("/");
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: "js" };
    });
  },
};

rmSync(OUT, { recursive: true, force: true });
const common = {
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // commander and friends are CommonJS: give their require() of node builtins a real require.
  banner: { js: 'import { createRequire as __authctlCreateRequire } from "node:module"; const require = __authctlCreateRequire(import.meta.url);' },
  plugins: [originalModuleUrl],
  metafile: true,
  logLevel: "warning",
};
// Everything but the entry: lazy imports stay lazy, each dynamic import() a chunk loaded when it runs.
const rest = await build({
  ...common,
  // docker-credential-authctl: docker's credential helper, its own bin sharing the chunks.
  entryPoints: { start: join(REPO, "dist/cli/start.js"), "docker-credential-authctl": join(REPO, "dist/cli/dockerCredentialMain.js") },
  outdir: OUT,
  splitting: true,
  external,
  chunkNames: "chunk-[hash]",
});
// The entry alone, in one file: `authctl --version` reads nothing else (its version string is
// copied in, not shared with a chunk), and any other command imports ./start.js.
const entry = await build({
  ...common,
  entryPoints: { authctl: join(REPO, "dist/cli/main.js") },
  outdir: OUT,
  external: [...external, "./start.js"],
  banner: {},
});
// test/startup.test.ts reads which sources each output holds and what it imports.
const meta = { inputs: { ...rest.metafile.inputs, ...entry.metafile.inputs }, outputs: { ...rest.metafile.outputs, ...entry.metafile.outputs } };
writeFileSync(join(OUT, "meta.json"), JSON.stringify(meta));
