// `npm run bench`: each figure against a baseline measured in the same run; prints a Markdown
// table and writes it to bench/last-run.md. Numbers are reported, never asserted.
// BENCH_RUNS sets the rounds (9); BENCH_ONLY=auth,library,start,store runs just those figures (and
// leaves bench/last-run.md alone); BENCH_CLI another build's bin to measure (an older commit's).
import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Authctl, Authenticator, storeApiKey } from "../dist/index.js";
import { compare, machine, markdownTable, ms, writeReport } from "./lib.mjs";

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
  execFileSync(engine.binary, ["build", "-q", "-t", BENCH_IMAGE, dir], { stdio: "ignore", env: { ...process.env, DOCKER_BUILDKIT: "0" } });
}

async function containerLogin(engine) {
  execFileSync("bash", [join(REPO, "test/images/build-test-images.sh")], { stdio: "ignore" });
  buildBenchImage(engine);
  const home = freshHome("login");
  const env = { ...process.env, AUTHCTL_HOME: home, NO_COLOR: "1", TMPDIR: scratch };
  const raw = async () => {
    const dir = mkdtempSync(join(scratch, "raw-"));
    chownSync(dir, 1000, 1000);
    await execa(engine.binary, ["run", "--rm", "-i", "-v", `${dir}:/home/dev/.claude:Z`, "--name", "bench-raw", BENCH_IMAGE, "claude"], { stdin: "ignore" });
    readFileSync(join(dir, ".credentials.json"));
    rmSync(dir, { recursive: true, force: true });
  };
  const cli = () => execa("node", [CLI, "auth", "claude", "--project", "bench", "--mode", "oauth", "--image", BENCH_IMAGE], { env, stdin: "ignore" });
  if (wanted("auth")) {
    const cliFigure = await compare(RUNS, raw, cli);
    row("container login, CLI (`authctl auth`) vs raw `run --rm`", cliFigure.baseline, cliFigure.subject, "≤ 1.3×", cliFigure.subject / cliFigure.baseline <= 1.3);
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
  const env = { ...process.env, AUTHCTL_HOME: home, NO_COLOR: "1" };
  const figure = await compare(RUNS * 2, () => execa("node", ["-e", "0"]), () => execa("node", [CLI, "creds", "list"], { env }));
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
  const header = `Machine: ${machine(engine?.binary ?? "podman")}. Medians of ${RUNS} interleaved runs (CLI start: ${RUNS * 2}).`;
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
