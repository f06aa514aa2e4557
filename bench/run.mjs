// `npm run bench`: each figure against a baseline measured in the same run; prints a Markdown
// table and writes it to bench/last-run.md. Numbers are reported, never asserted.
// BENCH_RUNS sets the rounds (9); BENCH_ONLY=auth,library,start,store runs just those figures (and
// leaves bench/last-run.md alone); BENCH_CLI another build's bin to measure (an older commit's).
// The container login's figure carries its floors, measured in the same interleaved rounds, and
// BENCH_CLI_BEFORE=<bin> adds another build's `auth` to those rounds (an A/B on a shared machine).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Authctl, Authenticator, storeApiKey } from "../dist/index.js";
import { compare, machine, markdownTable, median, ms, time, writeReport } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
// What `npm link` puts on the PATH (the bundle), so a change of the bin is measured too.
const CLI = process.env.BENCH_CLI ?? join(REPO, JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).bin.authctl);
const IMAGE = "localhost/authctl-test-vendor:latest";
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const ONLY = process.env.BENCH_ONLY?.split(",");
const wanted = (figure) => !ONLY || ONLY.includes(figure);
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-"));
const rows = [];
const notes = [];

/**
 * The environment the node subjects (authctl, the floors) run in: the caller's, without what
 * configures node itself. A machine whose NODE_EXTRA_CA_CERTS names a CA bundle (this project's
 * does, for its network's proxy) makes every node process read and parse it before its first line,
 * ≈ 45 ms here, which a user's machine does not pay and the raw run (podman, in Go) never does.
 */
function nodeSubjectEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

function freshHome(name) {
  const home = join(scratch, name);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  return home;
}

function row(figure, base, subject, target, met, result) {
  rows.push([figure, ms(base), ms(subject), result ?? `${(subject / base).toFixed(3)}×`, target, met ? "yes" : "**no**"]);
}

const BENCH_IMAGE = "localhost/authctl-bench-vendor:latest";

/**
 * The test image with a `claude` that logs in at once (the fake vendor's instant mode), so the
 * shipped roster's claude entry runs unchanged, as a user's login does: a roster file in
 * `$AUTHCTL_HOME/agents/` instead (as the tests use) makes every command parse and validate it
 * with yaml and zod, which the shipped roster's compiled form skips.
 */
function buildBenchImage(engine) {
  const dir = mkdtempSync(join(scratch, "image-"));
  writeFileSync(join(dir, "claude"), "#!/bin/sh\nexec fake-vendor claude instant\n", { mode: 0o755 });
  writeFileSync(join(dir, "Containerfile"), `FROM ${IMAGE}\nCOPY claude /usr/local/bin/claude\n`);
  // docker's classic builder takes a local base as it is (BuildKit would ask a registry about it).
  execFileSync(engine.binary, ["build", "-q", "-t", BENCH_IMAGE, "-f", join(dir, "Containerfile"), dir], { stdio: "ignore", env: { ...process.env, DOCKER_BUILDKIT: "0" } });
}

/**
 * The floors of a container login, each a node process started as authctl is, doing what the raw
 * run does (temp dir, `run --rm`, read the file, remove the dir) plus, cumulatively: `store`, what
 * a login must do besides the container (better-sqlite3 loaded and the store opened while the
 * container runs, the file sealed with AES-256-GCM and written in a transaction after it);
 * `api`, one `GET /_ping` and one image inspect over the engine's API socket before the run.
 */
const FLOOR_SCRIPT = `"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const { join } = require("node:path");
const [mode, binary, image, tempRoot, home, socketPath] = process.argv.slice(2);
const get = (path) => new Promise((resolve, reject) => {
  const req = require("node:http").request({ path, createConnection: () => require("node:net").connect(socketPath) }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks).toString()));
  });
  req.on("error", reject).end();
});
async function main() {
  if (mode === "api") {
    await get("/_ping");
    JSON.parse(await get("/images/" + encodeURIComponent(image) + "/json"));
  }
  const dir = fs.mkdtempSync(join(tempRoot, "floor-"));
  fs.chownSync(dir, 1000, 1000);
  const child = spawn(binary, ["run", "--rm", "-i", "-v", dir + ":/home/dev/.claude:Z", "--name", "bench-floor-" + process.pid, image, "claude"], { stdio: ["ignore", "inherit", "inherit"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let db;
  if (mode !== "spawn") {
    db = new (require(${JSON.stringify(join(REPO, "node_modules/better-sqlite3"))}))(join(home, "floor.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec("CREATE TABLE IF NOT EXISTS credentials (name TEXT PRIMARY KEY, nonce BLOB, sealed BLOB, tag BLOB)");
  }
  const code = await exited;
  const file = fs.readFileSync(join(dir, ".credentials.json"));
  if (db) {
    const crypto = require("node:crypto");
    const key = fs.readFileSync(join(home, "floor.key"));
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", key, nonce);
    const sealed = Buffer.concat([cipher.update(file), cipher.final()]);
    const put = db.prepare("INSERT OR REPLACE INTO credentials VALUES (?, ?, ?, ?)");
    db.transaction(() => put.run("bench:claude", nonce, sealed, cipher.getAuthTag()))();
    db.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = code;
}
main();
`;

/**
 * Like `compare`, for several subjects: each round runs every one once, starting one further along
 * each round, so none always follows the same one (what a `run --rm` leaves running after its
 * client exits lands on whichever runs next); medians in ms.
 */
async function compareMany(runs, subjects) {
  const times = subjects.map(() => []);
  for (const fn of subjects) await time(fn);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < subjects.length; k++) {
      const j = (i + k) % subjects.length;
      times[j].push(await time(subjects[j]));
    }
  }
  return times.map(median);
}

async function containerLogin(engine) {
  execFileSync("bash", [join(REPO, "test/images/build-test-images.sh")], { stdio: "ignore" });
  buildBenchImage(engine);
  const home = freshHome("login");
  const env = nodeSubjectEnv({ AUTHCTL_HOME: home, NO_COLOR: "1", TMPDIR: scratch });
  const raw = async () => {
    const dir = mkdtempSync(join(scratch, "raw-"));
    chownSync(dir, 1000, 1000);
    await execa(engine.binary, ["run", "--rm", "-i", "-v", `${dir}:/home/dev/.claude:Z`, "--name", "bench-raw", BENCH_IMAGE, "claude"], { env, extendEnv: false, stdin: "ignore" });
    readFileSync(join(dir, ".credentials.json"));
    rmSync(dir, { recursive: true, force: true });
  };
  const cli = () => execa("node", [CLI, "auth", "claude", "--project", "bench", "--mode", "oauth", "--image", BENCH_IMAGE], { env, extendEnv: false, stdin: "ignore" });
  if (wanted("auth")) {
    const floorHome = freshHome("login-floor");
    writeFileSync(join(floorHome, "floor.key"), randomBytes(32), { mode: 0o600 });
    const script = join(scratch, "auth-floor.cjs");
    writeFileSync(script, FLOOR_SCRIPT);
    const floor = (mode) => () => execa("node", [script, mode, engine.binary, BENCH_IMAGE, scratch, floorHome, engine.socketPath ?? ""], { env, extendEnv: false, stdin: "ignore" });
    const floors = [
      ["floor: node starts a script that runs the same `run --rm` and waits", floor("spawn")],
      ["floor: the above, and the store opened while the container runs, the credential sealed (AES-256-GCM) and written after", floor("store")],
      ...(engine.socketPath ? [["floor: the above, after one `GET /_ping` and one image inspect over the API socket", floor("api")]] : []),
    ];
    const before = process.env.BENCH_CLI_BEFORE;
    if (before) floors.push([`\`authctl auth\`, the build before (${before})`, () => execa("node", [before, "auth", "claude", "--project", "bench", "--mode", "oauth", "--image", BENCH_IMAGE], { env, extendEnv: false, stdin: "ignore" })]);
    const [rawMs, cliMs, ...floorMs] = await compareMany(RUNS, [raw, cli, ...floors.map(([, fn]) => fn)]);
    for (const [i, [name]] of floors.entries()) rows.push([name, ms(rawMs), ms(floorMs[i]), `${(floorMs[i] / rawMs).toFixed(3)}×`, "-", "-"]);
    row("container login, CLI (`authctl auth`) vs raw `run --rm`", rawMs, cliMs, "≤ 1.3×", cliMs / rawMs <= 1.3);
  }
  if (!wanted("library")) return;

  const context = new Authctl({ env: { PATH: process.env.PATH }, home, engine });
  const library = async () => {
    const session = await new Authenticator("claude").prepareOAuth("benchlib", { context, image: BENCH_IMAGE, tty: false, mountsDir: join(home, "mounts") });
    await execa(session.argv[0], session.argv.slice(1), { stdin: "ignore" });
    await session.capture();
    await session.cleanup();
  };
  const libFigure = await compare(RUNS, raw, library);
  row("container login, library (prepare → argv → capture → cleanup) vs raw", libFigure.baseline, libFigure.subject, "≤ 1.05×", libFigure.subject / libFigure.baseline <= 1.05);
  context.close();
}

async function cliStart() {
  const home = freshHome("cli-start");
  const context = new Authctl({ env: {}, home });
  for (let i = 0; i < 1000; i++) storeApiKey("openai", `sk-bench-${i}-0123456789abcdef`, { credentialSet: `set${i}`, context });
  context.close();
  const env = nodeSubjectEnv({ AUTHCTL_HOME: home, NO_COLOR: "1" });
  const figure = await compare(RUNS * 2, () => execa("node", ["-e", "0"], { env, extendEnv: false }), () => execa("node", [CLI, "creds", "list"], { env, extendEnv: false }));
  row("CLI start: `creds list` (1,000 credentials) vs `node -e 0`", figure.baseline, figure.subject, "≤ 1.5×", figure.subject / figure.baseline <= 1.5);
}

async function storeScale() {
  const worker = join(REPO, "bench/store-worker.mjs");
  const measure = async (rowsCount, mode) => {
    const home = freshHome(`scale-${mode}-${rowsCount}`);
    const { stdout } = await execa("node", [worker, home, String(rowsCount), mode]);
    return JSON.parse(stdout);
  };
  const growth = [];
  for (const n of [1_000, 10_000, 100_000]) {
    const raw = await measure(n, "raw");
    const ours = await measure(n, "authctl");
    growth.push({ n, raw, ours });
    if (n === 10_000) {
      row("`storeApiKey` × 10,000 in one process (vs plain SQLite inserts)", raw.putMs, ours.putMs, "< 2 s", ours.putMs < 2000, `${ms(ours.putMs)} (${(ours.putMs / raw.putMs).toFixed(2)}× plain)`);
      row("list 10,000 credentials (vs plain SELECT)", raw.listMs, ours.listMs, "< 100 ms", ours.listMs < 100, `${ms(ours.listMs)} (${(ours.listMs / raw.listMs).toFixed(2)}× plain)`);
    }
  }
  notes.push(
    "Store growth (per-row cost stays flat when writes and listing are linear):",
    "",
    "| rows | storeApiKey total | per row | list | plain SQLite insert per row |",
    "| --- | --- | --- | --- | --- |",
    ...growth.map(({ n, raw, ours }) => `| ${n.toLocaleString("en")} | ${ms(ours.putMs)} | ${((ours.putMs * 1000) / n).toFixed(1)} µs | ${ms(ours.listMs)} | ${((raw.putMs * 1000) / n).toFixed(1)} µs |`),
  );
}

try {
  const engine = await new Authctl({ env: process.env, home: scratch }).engine().catch(() => undefined);
  const header = `Machine: ${machine(engine?.binary ?? "podman")}, load ${loadavg()[0].toFixed(1)} at the start. Medians of ${RUNS} interleaved runs (CLI start: ${RUNS * 2}).`;
  console.error(header);
  if (engine && (wanted("auth") || wanted("library"))) await containerLogin(engine);
  else if (!engine) notes.push("Container figures skipped: no container engine (run scripts/setup-container-engine.sh).");
  if (wanted("start")) await cliStart();
  if (wanted("store")) await storeScale();
  if (ONLY) console.log([header, "", markdownTable(rows), "", ...notes].join("\n"));
  else writeReport(join(REPO, "bench/last-run.md"), header, rows, notes);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
