import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, REPO, authctl, tempHome } from "./helpers/env.js";
import { foregroundServe, waitFor } from "./helpers/serve-cli.js";
import { relativeTo, staticallyReachable } from "./helpers/imports.js";

const HEAVY_SOURCES = /^(src|dist)\/(engine|logins|roster\/load|roster\/schema|context|store\/keyringChild)/;
const HEAVY_PACKAGES = ["dockerode", "execa", "@azure/msal-node", "zod", "yaml", "@napi-rs/keyring", "koffi"];
/** What scripts, git and agents call often: each must start without the login layer. */
const HOT_COMMANDS = ["creds", "providers", "status", "token", "git-credential", "run"];
/**
 * Commands that read payloads reach zod in the sources: not for the payloads (read back, they are
 * checked without it: src/credentials/shape.ts), but through the modules declaring the roster's
 * schemas, the service protocol and the project file, whose schemas are built on first use
 * (src/core/lazy.ts). The bin defers zod's module itself until a schema is built
 * (scripts/bundle-cli.mjs): the runtime checks below see it not loaded.
 */
const READS_PAYLOADS = new Set(["status", "token", "git-credential", "run"]);
/** What git and agents call on every fetch or request: with no user roster file, zod is never loaded. */
const CALLED_OFTEN: { args: string[]; input?: string }[] = [
  { args: ["token", "openai"] },
  { args: ["git-credential", "get"], input: "protocol=https\nhost=github.com\n\n" },
  { args: ["run", "--no-token", "--", "true"] },
];
const heavyPackagesFor = (command: string) => HEAVY_PACKAGES.filter((p) => p !== "zod" || !READS_PAYLOADS.has(command));

describe("start-up: each command loads only what it needs (sources)", () => {
  it("main.ts answers --version with nothing but its version module loaded", () => {
    const { files, packages } = staticallyReachable(join(REPO, "src/cli/main.ts"));
    expect([...files].map((f) => relativeTo(REPO, f)).sort()).toEqual(["src/cli/main.ts", "src/cli/version.ts"]);
    expect([...packages]).toEqual([]);
  });

  it("program.ts registers commands lazily: it reaches no command file", () => {
    const rel = [...staticallyReachable(join(REPO, "src/cli/program.ts")).files].map((f) => relativeTo(REPO, f));
    expect(rel.filter((f) => f.startsWith("src/cli/commands/"))).toEqual([]);
    expect(readFileSync(join(REPO, "src/cli/program.ts"), "utf8")).toContain('import("./commands/creds.js")');
  });

  it.each(HOT_COMMANDS)("`%s` starts without the context, login layer, engine, MSAL, the OS keyring or yaml", (command) => {
    const reach = [join(REPO, "src/cli/program.ts"), join(REPO, `src/cli/commands/${command}.ts`)].map((f) => staticallyReachable(f));
    const rel = reach.flatMap(({ files }) => [...files].map((f) => relativeTo(REPO, f)));
    const packages = reach.flatMap(({ packages }) => [...packages]);
    expect(rel.filter((f) => HEAVY_SOURCES.test(f))).toEqual([]);
    for (const heavy of heavyPackagesFor(command)) expect(packages).not.toContain(heavy);
  });
});

interface Metafile {
  outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown>; imports: { path: string; kind: string; external?: boolean }[] }>;
}

describe("the bundled bin (dist/bin, scripts/bundle-cli.mjs) keeps lazy modules lazy", () => {
  const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
  const entry = Object.keys(meta.outputs).find((out) => meta.outputs[out]!.entryPoint === "dist/cli/main.js")!;
  const outputOf = (input: string) => Object.keys(meta.outputs).find((out) => input in meta.outputs[out]!.inputs)!;

  /** What loading `from` loads with it: its static imports, transitively (a dynamic import loads when its code runs). */
  function staticClosure(...from: string[]) {
    const outputs = new Set<string>();
    const packages = new Set<string>();
    const visit = (out: string) => {
      if (outputs.has(out)) return;
      outputs.add(out);
      for (const edge of meta.outputs[out]!.imports) {
        // zod.js is required on first use, not when the importing file loads (checked at run time below).
        if (edge.kind === "dynamic-import" || edge.path === "./zod.js") continue;
        if (edge.external) {
          if (!edge.path.startsWith("node:")) packages.add(edge.path.startsWith("@") ? edge.path.split("/").slice(0, 2).join("/") : edge.path.split("/")[0]!);
        } else visit(edge.path);
      }
    };
    from.forEach(visit);
    const inputs = [...outputs].flatMap((out) => Object.keys(meta.outputs[out]!.inputs));
    return { outputs, inputs, packages };
  }

  it("is the package's bin and the tests' CLI", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { bin: { authctl: string } };
    expect(join(REPO, pkg.bin.authctl)).toBe(CLI);
    expect(join(REPO, entry)).toBe(CLI);
  });

  it("the entry alone holds what `--version` needs; every other command imports start.js", () => {
    const { inputs, packages } = staticClosure(entry);
    expect(inputs.sort()).toEqual(["dist/cli/main.js", "dist/cli/version.js"]);
    expect([...packages]).toEqual([]);
    expect(meta.outputs[entry]!.imports).toEqual([
      { path: "./start.js", kind: "dynamic-import", external: true },
      { path: "./serviceAnswer.js", kind: "dynamic-import", external: true },
    ]);
  });

  it("`token` and `git-credential get` ask a running service from one file, without commander, the store, the roster or the context", () => {
    const { outputs, inputs, packages } = staticClosure("dist/bin/serviceAnswer.js");
    expect([...outputs]).toEqual(["dist/bin/serviceAnswer.js"]);
    expect(inputs.filter((i) => HEAVY_SOURCES.test(i) || /node_modules\/|dist\/(store\/(store|selectBackend|sqliteBackend)|roster\/|context)\.?/.test(i))).toEqual([]);
    expect([...packages]).toEqual([]);
  });

  it.each(HOT_COMMANDS)("`%s` starts without the context, logins, engine, roster parser, MSAL, the keyring or yaml", (command) => {
    const { inputs, packages } = staticClosure(outputOf("dist/cli/program.js"), outputOf(`dist/cli/commands/${command}.js`));
    expect(inputs).toContain(`dist/cli/commands/${command}.js`);
    const heavyPackages = heavyPackagesFor(command);
    expect(inputs.filter((i) => HEAVY_SOURCES.test(i) || heavyPackages.some((p) => i.includes(`node_modules/${p}/`)))).toEqual([]);
    for (const heavy of heavyPackages) expect(packages).not.toContain(heavy);
  });

  it("bundles the heavy parts into chunks that load only when a command imports them", () => {
    const lazy = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
    expect(lazy).toContain("dist/roster/load.js");
    expect(lazy).toContain("dist/context.js");
    expect(lazy.some((i) => i.includes("node_modules/zod/"))).toBe(true);
  });

  it("zod is a file of its own that no other output holds", () => {
    const holding = Object.keys(meta.outputs).filter((out) => Object.keys(meta.outputs[out]!.inputs).some((i) => i.includes("node_modules/zod/")));
    expect(holding).toEqual(["dist/bin/zod.js"]);
  });
});

describe("what the built CLI loads when it runs (every file in require.cache at exit)", () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);
  const hook = join(home, "..", "log-loads.cjs");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(
    hook,
    `process.on("exit", () => { for (const f of Object.keys(require.cache)) process._rawDebug("LOADED " + f); for (const m of process.moduleLoadList) if (m.startsWith("NativeModule ")) process._rawDebug("BUILTIN " + m.slice(13)); });\n`,
  );

  async function loaded(args: string[], input?: string) {
    const result = await authctl(home, args, { extraEnv: { NODE_OPTIONS: `--require=${hook}` }, input });
    expect(result.exitCode, result.stderr).toBe(0);
    const files = [...result.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => relative(REPO, m[1]!)).filter((f) => !f.startsWith(".."));
    const packages = new Set(files.filter((f) => f.startsWith("node_modules/")).map((f) => f.split("/")[1]!));
    const builtins = [...result.stderr.matchAll(/^BUILTIN (\S+)$/gm)].map((m) => m[1]!);
    return { files: files.filter((f) => f.startsWith("dist/")), packages: [...packages].sort(), builtins, stdout: result.stdout };
  }

  it("the bin is CommonJS, so the hook sees every module it loads", () => {
    expect(JSON.parse(readFileSync(join(REPO, "dist/bin/package.json"), "utf8"))).toEqual({ type: "commonjs" });
  });

  it("`--version`, `-v` and `version` load the entry file only", async () => {
    for (const args of [["--version"], ["-v"], ["version"]]) {
      const { files, packages, stdout } = await loaded(args);
      expect(stdout).toBe("0.1.0");
      expect(files).toEqual([relative(REPO, CLI)]);
      expect(packages).toEqual([]);
    }
  });

  it("`creds list` loads no chunk holding the context, logins, engine, roster or zod, and no package but SQLite's", async () => {
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
    const { files, packages } = await loaded(["creds", "list"]);
    expect(files).toContain(relative(REPO, CLI));
    const inputs = files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {}));
    expect(inputs).toContain("dist/cli/commands/creds.js");
    // Its chunks come from one file (scripts/bundle-cli.mjs packs them), not one file each.
    expect(files).toContain("dist/bin/hot.js");
    expect(inputs.filter((i) => HEAVY_SOURCES.test(i) || (i.includes("node_modules/") && !/node_modules\/(commander|better-sqlite3)\//.test(i)))).toEqual([]);
    expect(packages).toEqual(["better-sqlite3", "bindings", "file-uri-to-path"]);
  });

  it.each(CALLED_OFTEN)("`$args` reads its chunks from the packs, but for those start.js loads first and those holding an import()", async ({ args, input }) => {
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile & { packed?: Record<string, string[]> };
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    expect((await authctl(home, ["key", "gh", "--stdin"], { input: "ghp_FAKE_startup_token_not_real_0001" })).exitCode).toBe(0);
    const { files } = await loaded(args, input);
    const packed = new Set(Object.values(meta.packed ?? {}).flat());
    // Loaded before the code cache is in place (a pack compiled then would miss its cache).
    const early = new Set<string>();
    const visit = (out: string) => {
      if (early.has(out)) return;
      early.add(out);
      for (const edge of meta.outputs[out]!.imports) if (edge.kind === "import-statement" && !edge.external) visit(edge.path);
    };
    visit(Object.keys(meta.outputs).find((out) => meta.outputs[out]!.entryPoint === "dist/cli/start.js")!);
    const apart = files.filter((f) => /\/chunk-[A-Z0-9]+\.js$/.test(f) && !packed.has(f) && !early.has(f) && !readFileSync(join(REPO, f), "utf8").includes("import("));
    expect(apart).toEqual([]);
    expect(files.filter((f) => packed.has(f)).length).toBeGreaterThan(20);
  });

  it.each(CALLED_OFTEN)("`$args` loads no zod, no https or tty (off a terminal), and neither worker_threads nor (but run) child_process", async ({ args, input }) => {
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    expect((await authctl(home, ["key", "gh", "--stdin"], { input: "ghp_FAKE_startup_token_not_real_0001" })).exitCode).toBe(0);
    const { files, packages, builtins, stdout } = await loaded(args, input);
    // The command did its work (a boolean: a failed assertion prints no secret).
    expect(stdout.includes(args[0] === "run" ? "" : args[0] === "token" ? "sk-startup-" : "password=ghp_FAKE_startup")).toBe(true);
    expect(files).toContain(relative(REPO, CLI));
    expect(files.filter((f) => f.endsWith("/zod.js"))).toEqual([]);
    expect(packages).not.toContain("zod");
    expect(builtins).not.toContain("worker_threads");
    // Each loads on first use (scripts/bundle-cli.mjs): tty with net ≈ 5 ms, https with tls more.
    expect(builtins).not.toContain("tty");
    expect(builtins).not.toContain("https");
    if (args[0] !== "run") expect(builtins).not.toContain("child_process");
  });

  it("`token`, `status` and `run` with no service running load neither node:http nor engine detection", async () => {
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    for (const args of [["token", "openai"], ["status"], ["run", "--no-token", "--", "true"]]) {
      const { files, builtins } = await loaded(args);
      expect(builtins, args.join(" ")).toContain("net");
      expect(builtins.filter((b) => ["http", "https", "tls"].includes(b)), args.join(" ")).toEqual([]);
      expect(files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {})).filter((i) => i.startsWith("dist/engine/")), args.join(" ")).toEqual([]);
    }
  });

  it("`token` answered by the running service requires koffi by its file: Node's resolver for package exports (≈ 4 ms) never loads", async () => {
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    const daemon = foregroundServe(home);
    try {
      const socket = join(home, "run", "authctl.sock");
      await waitFor(() => existsSync(socket) || daemon.exitCode !== null, "the daemon's socket", 20_000);
      const { packages, builtins, stdout } = await loaded(["token", "openai"]);
      expect(stdout.includes("sk-startup-")).toBe(true);
      // The service answered (no SQLite) after the peer check (koffi).
      expect(packages).toContain("koffi");
      expect(packages).not.toContain("better-sqlite3");
      expect(builtins).not.toContain("internal/modules/esm/resolve");
    } finally {
      daemon.kill();
      await daemon;
    }
  });
});

describe("what the built CLI builds of zod when it runs (V8's coverage of the bundle)", () => {
  const plain = tempHome();
  const withUserRoster = tempHome();
  afterAll(() => (plain.cleanup(), withUserRoster.cleanup()));

  /** How many times the command called functions named `functionName`, from V8's coverage of its run. */
  async function callsOf(functionName: string, home: string, args: string[], input?: string, extraEnv: Record<string, string> = {}) {
    const coverage = join(home, "..", `coverage-${args[0]}`);
    const result = await authctl(home, args, { extraEnv: { NODE_V8_COVERAGE: coverage, ...extraEnv }, input });
    expect(result.exitCode, result.stderr).toBe(0);
    const scripts = readdirSync(coverage).flatMap((f) => (JSON.parse(readFileSync(join(coverage, f), "utf8")) as { result: { functions: { functionName: string; ranges: { count: number }[] }[] }[] }).result);
    rmSync(coverage, { recursive: true, force: true });
    return scripts.flatMap((s) => s.functions).filter((f) => f.functionName === functionName).reduce((sum, f) => sum + f.ranges[0]!.count, 0);
  }
  /** Schemas built: zod constructs one `Internals` per schema object. */
  const schemasBuilt = (home: string, args: string[], input?: string) => callsOf("Internals", home, args, input);
  /** Parsers zod compiled (its JIT: one `generateFastpass` call per object schema parsed with it on). */
  const parsersCompiled = (home: string, args: string[], input: string, extraEnv?: Record<string, string>) => callsOf("generateFastpass", home, args, input, extraEnv);

  it("with no user roster, the hot commands build none of the roster's, the protocol's or the config's schemas", async () => {
    mkdirSync(plain.home, { recursive: true, mode: 0o700 });
    expect((await authctl(plain.home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    expect((await authctl(plain.home, ["key", "gh", "--stdin"], { input: "ghp_FAKE_startup_token_not_real_0001" })).exitCode).toBe(0);
    for (const args of [["status"], ["providers"], ["creds", "list"]]) {
      expect(await schemasBuilt(plain.home, args), args.join(" ")).toBe(0);
    }
    // The library checks its arguments (core/arguments.ts); the usual provider name and set option pass without a schema.
    for (const { args, input } of CALLED_OFTEN) expect(await schemasBuilt(plain.home, args, input), args.join(" ")).toBe(0);
  });

  it("a command parses without zod's JIT (a parser compiled per schema costs a one-shot process more than it saves)", async () => {
    mkdirSync(plain.home, { recursive: true, mode: 0o700 });
    expect(await parsersCompiled(plain.home, ["key", "openai", "--stdin"], "sk-startup-jit-0123456789abcdef")).toBe(0);
    // The count sees a compiled parser: the same command with the JIT switched back on before start.js runs.
    const jitOn = join(plain.home, "..", "zod-jit-on.cjs");
    writeFileSync(jitOn, "globalThis.__zod_globalConfig = { jitless: false };\n");
    expect(await parsersCompiled(plain.home, ["key", "openai", "--stdin"], "sk-startup-jit-0123456789abcdef", { NODE_OPTIONS: `--require=${jitOn}` })).toBeGreaterThan(0);
  });

  it("a user roster file still gets the full schema: the count sees it built", async () => {
    mkdirSync(join(withUserRoster.home, "agents"), { recursive: true, mode: 0o700 });
    copyFileSync(join(REPO, "resources/agents/openai.yaml"), join(withUserRoster.home, "agents/openai.yaml"));
    expect(await schemasBuilt(withUserRoster.home, ["providers"])).toBeGreaterThan(100);
  });
});
