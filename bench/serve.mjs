// `npm run bench:serve`: `authctl run` start-up and the local service's `get` throughput, each
// against a baseline measured in the same run, interleaved; medians. Prints a Markdown table and
// writes it to bench/last-serve-run.md. Numbers are reported, never asserted.
//  - `authctl run -- true` vs `node -e 0` + `true` itself (target ≤ 1.3×), daemon already up;
//  - `get` over the Unix socket, 64 concurrent keep-alive clients, the server pinned to one core,
//    the load generator to another: requests/s (≥ 5,000) and p99 (< 5 ms); baseline: bare
//    node:http on a Unix socket answering a fixed JSON body, same client.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Authctl, ServiceClient, storeApiKey } from "../dist/index.js";
import { ADMIN_KEY_LABEL } from "../dist/access/adminAuth.js";
import { compare, machine, median, ms, writeReport } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
// What `npm link` puts on the PATH, so a change of the bin is measured too.
const CLI = join(REPO, JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).bin.authctl);
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const ROUNDS = Number(process.env.BENCH_SERVE_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_SERVE_MS ?? 2000);
const CLIENTS = 64;
const TARGET_RPS = 5000;
const SERVER_CORE = "0";
const CLIENT_CORE = "1";
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-serve-"));
const home = join(scratch, "home");
mkdirSync(home, { mode: 0o700 });
const rows = [];
const notes = [];
const started = [];

// The bench's own AUTHCTL_* settings (a passphrase, a socket) must not reach the home under test.
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AUTHCTL_"))), AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file", NO_COLOR: "1" };
const pinned = (core, argv) => (process.env.BENCH_NO_TASKSET ? argv : ["taskset", "-c", core, ...argv]);

function row(figure, base, subject, result, target, met) {
  rows.push([figure, base, subject, result, target, met ? "yes" : "**no**"]);
}

/** Starts a long-running server process and resolves once its socket answers. */
async function startServer(argv, socketPath) {
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  started.push(child);
  for (let waited = 0; !existsSync(socketPath); waited += 20) {
    if (child.exitCode !== null || waited > 20_000) throw new Error(`${argv.join(" ")} did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
}

async function runStart() {
  // A warm-up `run` starts the on-demand daemon; every measured run then mints and revokes a token.
  const figure = await compare(
    RUNS * 2,
    async () => {
      await execa("node", ["-e", "0"]);
      await execa("true");
    },
    () => execa("node", [CLI, "run", "--set", "bench", "--", "true"], { env }),
  );
  row("`authctl run -- true` (daemon up) vs `node -e 0` + `true`", ms(figure.baseline), ms(figure.subject), `${(figure.subject / figure.baseline).toFixed(3)}×`, "≤ 1.3×", figure.subject / figure.baseline <= 1.3);
  const noToken = await compare(RUNS * 2, () => execa("node", ["-e", "0"]), () => execa("node", [CLI, "run", "--no-token", "--set", "bench", "--", "true"], { env }));
  notes.push(`For scale: \`authctl run --no-token -- true\` ${ms(noToken.subject)} vs \`node -e 0\` ${ms(noToken.baseline)} (${(noToken.subject / noToken.baseline).toFixed(3)}×).`);
  await execa("node", [CLI, "serve", "stop"], { env });
}

async function load(socketPath, authorization, rate) {
  const body = JSON.stringify({ credentialSet: "bench", provider: "openai" });
  const [bin, ...args] = pinned(CLIENT_CORE, ["node", join(REPO, "bench/serve-load.mjs"), socketPath, "/v1/get", body, authorization, String(CLIENTS), String(ROUND_MS), String(rate)]);
  return JSON.parse((await execa(bin, args)).stdout);
}

async function serviceGet() {
  const socketPath = join(home, "run/authctl.sock");
  const daemon = await startServer(pinned(SERVER_CORE, ["node", CLI, "serve"]), socketPath);
  const baselineSocket = join(scratch, "baseline.sock");
  const baseline = await startServer(pinned(SERVER_CORE, ["node", join(REPO, "bench/serve-baseline.mjs"), baselineSocket]), baselineSocket);
  const context = new Authctl({ env, home });
  const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
  const { token } = await admin.mint({ credentialSet: "bench", providers: ["openai"], ops: ["get"], ttlSeconds: 3600 });
  context.close();
  const rounds = { closed: { b: [], s: [] }, open: { b: [], s: [] } };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [mode, rate] of [["closed", 0], ["open", TARGET_RPS]]) {
      rounds[mode].b.push(await load(baselineSocket, "", rate));
      rounds[mode].s.push(await load(socketPath, `Bearer ${token}`, rate));
    }
  }
  await stopServer(daemon);
  await stopServer(baseline);
  const med = (list, key) => median(list.map((r) => r[key]));
  const rps = (v) => `${Math.round(v).toLocaleString("en")}/s`;
  const { closed, open } = rounds;
  const [bRps, sRps] = [med(closed.b, "rps"), med(closed.s, "rps")];
  row(`service \`get\`, ${CLIENTS} keep-alive clients as fast as answered: requests/s`, rps(bRps), rps(sRps), `${(sRps / bRps).toFixed(3)}× baseline`, "≥ 5,000/s", sRps >= TARGET_RPS);
  const [bP99, sP99] = [med(open.b, "p99"), med(open.s, "p99")];
  row(`service \`get\` at ${TARGET_RPS.toLocaleString("en")} requests/s from ${CLIENTS} clients: p99 latency`, ms(bP99), ms(sP99), `p50 ${ms(med(open.s, "p50"))}`, "< 5 ms", sP99 < 5);
  notes.push(
    `At saturation (${CLIENTS} requests always in flight) latency is queueing, ${CLIENTS} ÷ requests/s on average: p99 ${ms(med(closed.b, "p99"))} baseline, ${ms(med(closed.s, "p99"))} authctl. ` +
      "The latency target is therefore measured at the target rate, where it says something about the server.",
  );
}

try {
  const context = new Authctl({ env, home });
  storeApiKey("openai", "sk-bench-0123456789abcdef0123456789abcdef", { credentialSet: "bench", context });
  context.close();
  const header = `Machine: ${machine("podman")}. \`run\`: medians of ${RUNS * 2} interleaved runs; service: medians of ${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s, server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}.`;
  console.error(header);
  await runStart();
  await serviceGet();
  writeReport(join(REPO, "bench/last-serve-run.md"), header, rows, notes);
} finally {
  for (const child of started) await stopServer(child).catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
}
