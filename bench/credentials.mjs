// `npm run bench:credentials`: `getCredentials` over the local service from a process that was
// handed AUTHCTL_SOCKET and AUTHCTL_TOKEN, synchronous (a worker does the socket I/O while the
// thread waits) against the async client (`ServiceClient.get`), interleaved, medians, ms per call.
// Also the first sync call of a process on its own (it starts the worker). Prints a Markdown table
// and writes it to bench/last-credentials-run.md. Numbers are reported, never asserted.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { Authctl, getCredentials, ServiceClient, storeApiKey } from "../dist/index.js";
import { ADMIN_KEY_LABEL } from "../dist/access/adminAuth.js";
import { machine, median, ms, writeReport } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "dist/bin/authctl.js");
const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const FIRST_RUNS = Number(process.env.BENCH_RUNS ?? 9);
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-credentials-"));
const home = join(scratch, "home");
mkdirSync(home, { mode: 0o700 });
const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AUTHCTL_"))), AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file", NO_COLOR: "1" };
const socketPath = join(home, "run/authctl.sock");
let daemon;

try {
  const context = new Authctl({ env, home });
  storeApiKey("openai", "sk-bench-0123456789abcdef0123456789abcdef", { credentialSet: "bench", context });
  daemon = spawn("node", [CLI, "serve"], { env, stdio: ["ignore", "ignore", "inherit"] });
  for (let waited = 0; !existsSync(socketPath); waited += 20) {
    if (daemon.exitCode !== null || waited > 20_000) throw new Error("authctl serve did not start");
    await new Promise((r) => setTimeout(r, 20));
  }
  const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
  const { token } = await admin.mint({ credentialSet: "bench", providers: ["openai"], ops: ["get"], ttlSeconds: 3600 });
  const granted = new Authctl({ env: { ...env, AUTHCTL_SOCKET: socketPath, AUTHCTL_TOKEN: token }, home });
  const client = new ServiceClient({ socketPath, token });

  const sync = () => getCredentials("openai", { credentialSet: "bench", context: granted });
  const async = () => client.get("bench", "openai");
  sync();
  await async();
  const times = { sync: [], async: [] };
  for (let i = 0; i < CALLS; i++) {
    let start = performance.now();
    sync();
    times.sync.push(performance.now() - start);
    start = performance.now();
    await async();
    times.async.push(performance.now() - start);
  }

  // A fresh process's first sync call, which pays for starting the worker.
  const firstCall = `
    import { performance } from "node:perf_hooks";
    const { Authctl, getCredentials } = await import(${JSON.stringify(join(REPO, "dist/index.js"))});
    const context = new Authctl({ env: process.env, home: process.env.AUTHCTL_HOME });
    const start = performance.now();
    getCredentials("openai", { credentialSet: "bench", context });
    console.log(performance.now() - start);`;
  const first = [];
  for (let i = 0; i < FIRST_RUNS; i++) {
    const { stdout } = await execa("node", ["--input-type=module", "-e", firstCall], { env: { ...env, AUTHCTL_SOCKET: socketPath, AUTHCTL_TOKEN: token } });
    first.push(Number(stdout.trim()));
  }

  const rows = [
    ["`getCredentials` (sync, over the service) per call", "-", ms(median(times.sync)), `${ms(median(times.sync))} median of ${CALLS}`, "-", "-"],
    ["`ServiceClient.get` (async) per call", "-", ms(median(times.async)), `${ms(median(times.async))} median of ${CALLS}`, "-", "-"],
    ["first sync call in a fresh process (starts the worker)", "-", ms(median(first)), `${ms(median(first))} median of ${FIRST_RUNS}`, "-", "-"],
  ];
  const header = `Machine: ${machine("podman")}. Sync and async calls interleaved in one process after one warm-up each; the daemon is \`authctl serve\`.`;
  writeReport(join(REPO, "bench/last-credentials-run.md"), header, rows, []);
} finally {
  if (daemon && daemon.exitCode === null) {
    const gone = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    await gone;
  }
  rmSync(scratch, { recursive: true, force: true });
}
