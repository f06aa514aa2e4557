// `npm run bench` (after bench/run.mjs), or alone: `node bench/start.mjs`. CLI start time of the
// commands scripts and agents call often, each as a ratio to `node -e 0` measured interleaved in
// this same run (a busy neighbour slows both alike). Each command gets its own AUTHCTL_HOME and
// TMPDIR. Prints a Markdown table and writes it to bench/last-start.md. Reported, never asserted.
// Two ratios per command: wall time, and CPU time (user + system of the child process, which a
// busy shared machine disturbs far less than wall time).
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { interleaved, machine, median } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
// BENCH_CLI: another build's bin (e.g. a checkout of an older commit) to compare with.
const CLI = process.env.BENCH_CLI ?? join(REPO, JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).bin.authctl);
// The library of the same build seeds the store, so its format is the one that CLI reads.
const { Authctl, storeApiKey } = await import(pathToFileURL(join(dirname(CLI), "../index.js")).href);
const PAIRS = Number(process.env.BENCH_START_PAIRS ?? 15);
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-start-"));

/**
 * Every child (baseline and subject alike) preloads this file: at exit it writes its own CPU time
 * (getrusage of the whole process, Node's own start included) where BENCH_CPU_FILE says.
 */
const CPU_HOOK = join(scratch, "cpu-at-exit.cjs");
writeFileSync(CPU_HOOK, `process.on("exit", () => { const u = process.cpuUsage(); require("fs").writeFileSync(process.env.BENCH_CPU_FILE, String((u.user + u.system) / 1000)); });\n`);
const CPU_FILE = join(scratch, "cpu.txt");

/** Wall and CPU time of one process from spawn to exit, in ms; a failure is reported, not timed. */
function timed(argv, { env = process.env, input } = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const childEnv = { ...env, NODE_OPTIONS: `--require=${CPU_HOOK}`, BENCH_CPU_FILE: CPU_FILE };
    const child = spawn(argv[0], argv.slice(1), { env: childEnv, stdio: [input === undefined ? "ignore" : "pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolve({ ms, cpu: Number(readFileSync(CPU_FILE, "utf8")) });
      else reject(new Error(`${argv.slice(1).join(" ")} exited ${code}: ${stderr.trim().split("\n")[0]}`));
    });
  });
}

/** A home with 1,000 credentials (one per set) plus the default set's gh and openai keys. */
function seedHome() {
  const home = join(scratch, "seed");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const context = new Authctl({ env: {}, home });
  for (let i = 0; i < 998; i++) storeApiKey("openai", `sk-bench-${i}-0123456789abcdef`, { credentialSet: `set${i}`, context });
  storeApiKey("openai", "sk-bench-default-0123456789abcdef", { context });
  storeApiKey("gh", "ghp_FAKE_bench_token_not_real_0001", { context });
  context.close();
  return home;
}

/** The default set's gh and openai keys alone: the fixed part of a listing, without 1,000 rows' work. */
function seedSmallHome() {
  const home = join(scratch, "seed-small");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const context = new Authctl({ env: {}, home });
  storeApiKey("openai", "sk-bench-default-0123456789abcdef", { context });
  storeApiKey("gh", "ghp_FAKE_bench_token_not_real_0001", { context });
  context.close();
  return home;
}

/** Its own copy of the seeded home and its own TMPDIR. */
function envFor(name, seed) {
  const dir = join(scratch, name);
  const home = join(dir, "home");
  const tmp = join(dir, "tmp");
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  if (seed) cpSync(seed, home, { recursive: true });
  else mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { PATH: process.env.PATH, HOME: dir, AUTHCTL_HOME: home, TMPDIR: tmp, NO_COLOR: "1" };
  if (process.env.AUTHCTL_ENGINE) env.AUTHCTL_ENGINE = process.env.AUTHCTL_ENGINE;
  return env;
}

/** `authctl serve --detach` in this home; returns what stops it (idle, it also ends itself: a crashed bench leaves none running). */
function startService(env) {
  const up = spawnSync("node", [CLI, "serve", "--detach", "--idle-exit", "60"], { env, encoding: "utf8" });
  if (up.status !== 0) throw new Error(`authctl serve --detach exited ${up.status}: ${up.stderr.trim().split("\n")[0]}`);
  return () => void spawnSync("node", [CLI, "serve", "stop"], { env, encoding: "utf8" });
}

/** Whether the built CLI has this command (built by another change; "n/a" until it lands). */
function hasCommand(name) {
  const help = spawnSync("node", [CLI, "--help"], { encoding: "utf8" }).stdout;
  return new RegExp(`^  ${name}\\b`, "m").test(help);
}

// The floors a miss is read against: what Node itself costs for the first steps every command takes.
const FLOOR = join(scratch, "one-line.mjs");
writeFileSync(FLOOR, "export const x = 0;\n");
const FLOOR_CJS = join(scratch, "one-line.cjs");
writeFileSync(FLOOR_CJS, "module.exports = 0;\n");
const FLOOR_SQLITE = join(scratch, "sqlite.cjs");
const sqlite = JSON.stringify(join(REPO, "node_modules/better-sqlite3"));
writeFileSync(FLOOR_SQLITE, `require(${JSON.stringify(join(REPO, "node_modules/commander"))}); new (require(${sqlite}))(process.argv[2], { readonly: true }).prepare("SELECT count(*) FROM sqlite_master").get();\n`);

/**
 * The steps of a command that reads payloads, each on top of the last: the roster's schema modules
 * loaded, then the bin's own bundled zod. Schemas are built on first use (src/core/lazy.ts) and zod
 * loads with the first one (dist/bin/zod.js): with no user roster file, `token`, `run` and
 * `git-credential get` take the first step only. (In a build before zod.js, loading the roster's
 * schema modules loaded zod with them.)
 */
const meta = JSON.parse(readFileSync(join(dirname(CLI), "meta.json"), "utf8"));
const chunkHolding = (input) => Object.keys(meta.outputs).find((out) => Object.keys(meta.outputs[out].inputs).some((i) => i.includes(input)));
const floorStep = (name, chunks) => {
  const file = join(scratch, `${name}.cjs`);
  const path = (out) => JSON.stringify(join(dirname(CLI), "..", "..", out));
  // A chunk packed into hot.js or hot-access.js (meta.packed) is run through its pack's loader, as the bin does.
  const load = (c) => {
    const pack = Object.keys(meta.packed ?? {}).find((file) => meta.packed[file].includes(c));
    return pack ? `require(${path(pack)})(${JSON.stringify(`./${c.split("/").pop()}`)});` : `require(${path(c)});`;
  };
  writeFileSync(file, `require(${JSON.stringify(FLOOR_SQLITE)});\n${chunks.map(load).join("\n")}\n`);
  return file;
};
const FLOOR_ROSTER = floorStep("roster-schemas", [chunkHolding("dist/roster/schema.js")]);
/**
 * What asking a running service needs at the least: crypto for the admin signature, one HTTP
 * exchange over node:net, and koffi to read who listens (SO_PEERCRED) before anything is sent.
 */
const FLOOR_SERVICE = join(scratch, "service-ask.cjs");
writeFileSync(
  FLOOR_SERVICE,
  `const crypto = require("node:crypto"), net = require("node:net");
crypto.createHmac("sha256", crypto.randomBytes(32)).update("x").digest("hex");
const koffi = require(${JSON.stringify(join(REPO, "node_modules/koffi"))});
koffi.struct("floor_ucred", { pid: "int32", uid: "uint32", gid: "uint32" });
koffi.load("libc.so.6").func("int getsockopt(int fd, int level, int name, _Out_ floor_ucred *value, _Inout_ uint32_t *length)");
const socket = net.connect(process.argv[2], () => socket.write("GET /v1/health HTTP/1.1\\r\\nhost: localhost\\r\\nconnection: close\\r\\n\\r\\n"));
socket.resume();
`,
);
/** What `run -- true` adds to any SQLite-reading command at the least: starting the child and waiting for it. */
const FLOOR_SPAWN = join(scratch, "sqlite-spawn.cjs");
writeFileSync(FLOOR_SPAWN, `require(${JSON.stringify(FLOOR_SQLITE)});\nrequire("node:child_process").spawn("true", [], { stdio: "inherit" }).on("close", (code) => { process.exitCode = code; });\n`);
const FLOOR_ZOD = floorStep("zod", [chunkHolding("dist/roster/schema.js"), chunkHolding("node_modules/zod/")]);

const seed = seedHome();
const smallSeed = seedSmallHome();
const FIGURES = [
  { name: "floor: a one-line ESM file", argv: ["node", FLOOR], target: null },
  { name: "floor: a one-line CommonJS file", argv: ["node", FLOOR_CJS], target: null },
  { name: "floor: require commander and better-sqlite3, open the 1,000-row store, one SELECT", argv: ["node", FLOOR_SQLITE, join(seed, "credentials.db")], target: null },
  { name: "floor: the above, then the roster's schema modules loaded", argv: ["node", FLOOR_ROSTER, join(seed, "credentials.db")], target: null },
  { name: "floor: the above, then the bin's bundled zod (a command that builds a schema)", argv: ["node", FLOOR_ZOD, join(seed, "credentials.db")], target: null },
  { name: "`authctl --version`", args: ["--version"], target: 1.2 },
  { name: "`authctl creds list` (1,000 credentials)", args: ["creds", "list"], seeded: true, target: 1.3 },
  { name: "`authctl status` (1,000 credentials)", args: ["status"], seeded: true, target: 1.3 },
  { name: "`authctl creds list` (2 credentials: the listing's fixed part)", args: ["creds", "list"], seeded: "small", target: null },
  { name: "`authctl status` (2 credentials: the listing's fixed part)", args: ["status"], seeded: "small", target: null },
  { name: "`authctl token openai`", args: ["token", "openai"], seeded: true, target: 1.3, command: "token" },
  { name: "`authctl git-credential get` (github.com)", args: ["git-credential", "get"], seeded: true, target: 1.3, command: "git-credential", input: "protocol=https\nhost=github.com\n\n" },
  { name: "floor: node:crypto, koffi's peer check and one health exchange with the running service", argv: ["node", FLOOR_SERVICE], seeded: true, service: "svc-floor", socketArg: true, target: null },
  { name: "`authctl token openai` (service up)", args: ["token", "openai"], seeded: true, service: "svc-token", target: 1.3, command: "token" },
  { name: "`authctl git-credential get` (github.com, service up)", args: ["git-credential", "get"], seeded: true, service: "svc-git", target: 1.3, command: "git-credential", input: "protocol=https\nhost=github.com\n\n" },
  { name: "floor: require commander and better-sqlite3, open the store, one SELECT, then spawn `true` and wait", argv: ["node", FLOOR_SPAWN, join(seed, "credentials.db")], target: null },
  { name: "`authctl run --no-token -- true`", args: ["run", "--no-token", "--", "true"], seeded: true, target: 1.5 },
];

const rows = [];
try {
  const header = `Machine: ${machine(process.env.AUTHCTL_ENGINE ?? "podman")}, load ${(await import("node:os")).loadavg()[0].toFixed(1)}. Medians of ${PAIRS} interleaved pairs with \`node -e 0\`.`;
  console.error(header);
  for (const fig of FIGURES) {
    if (fig.command && !hasCommand(fig.command)) {
      rows.push([fig.name, "n/a", "n/a", "n/a", "n/a", "n/a", `≤ ${fig.target}×`, "n/a"]);
      continue;
    }
    // A service's home gets a short name: its socket's path must fit a Unix socket (107 bytes).
    const env = envFor(fig.service ?? fig.name.replace(/\W+/g, "-"), fig.seeded === "small" ? smallSeed : fig.seeded ? seed : undefined);
    const argv = fig.argv ? [...fig.argv, ...(fig.socketArg ? [join(env.AUTHCTL_HOME, "run", "authctl.sock")] : [])] : ["node", CLI, ...fig.args];
    // The home's own service, as a user who ran `authctl serve` has it: answers come from it.
    const stopService = fig.service ? startService(env) : () => undefined;
    // The baseline gets the command's environment: an inherited NODE_EXTRA_CA_CERTS alone makes
    // `node -e 0` read a CA bundle at start (+50-70 ms CPU here), which flattered every ratio.
    const times = await interleaved(PAIRS, () => timed(["node", "-e", "0"], { env }), () => timed(argv, { env, input: fig.input })).finally(stopService);
    const of = (runs, field) => median(runs.map((r) => r[field]));
    const [base, subject] = [of(times.baseline, "ms"), of(times.subject, "ms")];
    const [baseCpu, subjectCpu] = [of(times.baseline, "cpu"), of(times.subject, "cpu")];
    const ratio = subject / base;
    const cpuRatio = subjectCpu / baseCpu;
    const target = fig.target === null ? "-" : `≤ ${fig.target}×`;
    const met = (r) => (fig.target === null ? "-" : r <= fig.target ? "pass" : "**fail**");
    rows.push([fig.name, `${subject.toFixed(0)} ms`, `${base.toFixed(0)} ms`, `${ratio.toFixed(2)}×`, `${subjectCpu.toFixed(0)} / ${baseCpu.toFixed(0)} ms`, `${cpuRatio.toFixed(2)}×`, target, `${met(ratio)} / ${met(cpuRatio)}`]);
    console.error(`${fig.name}: wall ${ratio.toFixed(2)}×, CPU ${cpuRatio.toFixed(2)}×`);
  }
  const head = ["command", "median", "`node -e 0`", "wall ratio", "CPU (vs `node -e 0`)", "CPU ratio", "target", "wall / CPU"];
  const lines = [head, head.map(() => "---"), ...rows];
  const report = [header, "", ...lines.map((r) => `| ${r.join(" | ")} |`), ""].join("\n");
  console.log(report);
  writeFileSync(join(REPO, "bench/last-start.md"), report);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
