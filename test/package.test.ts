import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { execa } from "execa";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { canary, childEnv, REPO, testEnv } from "./helpers/env.js";

/**
 * What a user gets from `npm install -g authctl`: the tarball `npm pack` makes, installed into a
 * fresh global prefix, its bin run from outside the repo. One pack and one install for the file.
 *
 * Cost: the install itself takes ~15 s from npm's cache. better-sqlite3's install script compiles
 * it from source here (no prebuilt download): 1.5–4 min on 2 busy cores. So the install runs with
 * --ignore-scripts and takes the addon the repo's own `npm ci` built, when the tarball resolved the
 * same better-sqlite3 version (the very file its script would make, for this node); another version
 * is rebuilt by npm in the prefix. koffi and @napi-rs/keyring ship their binaries in the package.
 */
const PKG = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { name: string; version: string; bin: Record<string, string> };
/** Non-code files dist/ may hold: data the code reads at run time. */
/** Data the shipped code reads: the compiled roster, the marker that makes Node load the bin's files as CommonJS, and their V8 code cache. */
const DIST_DATA = new Set(["dist/roster/builtin-roster.json", "dist/bin/package.json", "dist/bin/code-cache.bin"]);
const npmEnv = () => ({ ...testEnv(), npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" });

let work: string;
let shipped: string[];
let installed: string;
let bin: string;

async function npm(args: string[], cwd: string, extraEnv: Record<string, string> = {}) {
  const r = await execa("npm", args, { cwd, env: { ...npmEnv(), ...extraEnv }, extendEnv: false, reject: false, stdin: "ignore" });
  if (r.exitCode !== 0) throw new Error(`npm ${args.join(" ")} (in ${cwd}) exited ${r.exitCode}:\n${r.stderr.slice(-4000)}`);
  return r;
}

function versionOf(packageDir: string): string {
  return (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string }).version;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "pack-"));
  // --ignore-scripts: prepack's clean rebuild would delete dist/ under the suites running beside this
  // file (npm test's docker run shares it); this packs the dist/ that `npm test` has just built.
  const packed = JSON.parse((await npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], REPO)).stdout) as [
    { filename: string; files: { path: string }[] },
  ];
  shipped = packed[0].files.map((f) => f.path).sort();
  const prefix = join(work, "prefix");
  await npm(["install", "--global", "--prefix", prefix, "--prefer-offline", "--ignore-scripts", join(work, packed[0].filename)], work);
  installed = join(prefix, "lib/node_modules", PKG.name);
  bin = join(prefix, "bin", Object.keys(PKG.bin)[0]!);

  const sqlite = join(installed, "node_modules/better-sqlite3");
  const built = join(REPO, "node_modules/better-sqlite3");
  const addon = "build/Release/better_sqlite3.node";
  if (versionOf(sqlite) === versionOf(built) && existsSync(join(built, addon))) {
    mkdirSync(dirname(join(sqlite, addon)), { recursive: true });
    copyFileSync(join(built, addon), join(sqlite, addon));
  } else {
    // Headers of the installed node, as the repo's .npmrc says (no download from nodejs.org).
    await npm(["rebuild", "better-sqlite3"], installed, { npm_config_nodedir: "/usr" });
  }
}, 600_000);

/** Every file below dir, relative to it. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * `scripts/…` and `images/…` paths named in the text of src/'s string literals (comments are not
 * messages), also as a module resolves them (`../../../images/`); an API path (`/images/…`) is not one.
 */
function pathsNamedInSrc(): { file: string; path: string }[] {
  const named: { file: string; path: string }[] = [];
  const pattern = /(?<![\w./-])(?:\.\.\/)*((?:scripts|images)\/[\w.-]*(?:\/[\w.-]+)*)/g;
  for (const file of walk(join(REPO, "src")).filter((f) => f.endsWith(".ts"))) {
    const source = ts.createSourceFile(file, readFileSync(join(REPO, "src", file), "utf8"), ts.ScriptTarget.Latest);
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) {
        for (const m of node.text.matchAll(pattern)) named.push({ file: `src/${file}`, path: m[1]! });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return named;
}

describe("the package as npm pack ships it", () => {
  it("holds a LICENSE matching package.json's license", () => {
    expect(shipped).toContain("LICENSE");
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toMatch(/^MIT License\n/);
  });

  it("ships no source map whose sources it does not ship", () => {
    const dangling = shipped
      .filter((f) => f.endsWith(".map"))
      .flatMap((f) => {
        const map = JSON.parse(readFileSync(join(installed, f), "utf8")) as { sources: string[]; sourceRoot?: string };
        return map.sources.map((s) => resolve(installed, dirname(f), map.sourceRoot ?? "", s)).filter((s) => !existsSync(s)).map((s) => `${f} -> ${relative(installed, s)}`);
      });
    expect(dangling).toEqual([]);
  });

  it("ships no build metadata: dist/ holds code and the data the code reads", () => {
    const extra = shipped.filter((f) => f.startsWith("dist/") && !/\.(js|d\.ts|map)$/.test(f) && !DIST_DATA.has(f));
    expect(extra).toEqual([]);
    expect(shipped.filter((f) => /\.tsbuildinfo$|(^|\/)meta\.json$/.test(f))).toEqual([]);
  });

  it("ships every scripts/ and images/ path that src/'s messages name", () => {
    const named = pathsNamedInSrc();
    expect(named.length).toBeGreaterThan(0); // the scan finds the messages that name images/
    const missing = named.filter((n) => !existsSync(join(installed, n.path))).map((n) => `${n.file}: ${n.path}`);
    expect(missing).toEqual([]);
  });
});

describe("the installed bin, run from outside the repo", () => {
  const home = () => join(work, "home");
  const seen: string[] = [];
  const key = canary("sk-ant-api03-");
  async function run(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
    const r = await execa(bin, args, {
      cwd: work,
      env: childEnv(home(), options.env),
      extendEnv: false,
      reject: false,
      ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
    });
    seen.push(r.stdout, r.stderr);
    return r;
  }

  it("is the installed copy, not a link into the repo", () => {
    expect(relative(work, realpathSync(bin)).startsWith("..")).toBe(false);
  });

  it("lists providers and shows status", async () => {
    const providers = await run(["providers"]);
    expect(providers.stderr).toBe("");
    expect(providers.exitCode).toBe(0);
    expect(providers.stdout).toMatch(/\banthropic\b/);
    const status = await run(["status"]);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain(home());
  });

  it("stores a key from stdin and `run --no-token` hands it to the child", async () => {
    expect((await run(["key", "anthropic", "--stdin"], { input: key })).exitCode).toBe(0);
    // The child prints whether its env holds the key, never the key itself.
    const check = 'const h = require("crypto").createHash("sha256").update(process.env.ANTHROPIC_API_KEY ?? "").digest("hex"); process.stdout.write(h === process.env.WANT ? "key-delivered" : "key-missing")';
    const want = createHash("sha256").update(key).digest("hex");
    const r = await run(["run", "--no-token", "--", "node", "-e", check], { env: { WANT: want } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("key-delivered");
    expect(r.exitCode).toBe(0);
    for (const text of seen) expect(text).not.toContain(key);
  });
});
