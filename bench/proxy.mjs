// `npm run bench:proxy`: the credential proxy of `authctl serve` (issue 10's figures) against the same
// local upstream reached directly, both measured in the same run, interleaved; medians over rounds.
// Three processes: this one (the clients), the upstream (bench/proxy-upstream.mjs) and the daemon
// (bench/proxy-daemon.mjs: runService, the proxy on a 127.0.0.1 port, audit lines written as usual).
// Prints the table and writes it to bench/last-proxy-run.md. Numbers are reported, never asserted.
// BENCH_RUNS sets the rounds (9), BENCH_ONLY=latency,sse,paced,throughput,memory a subset.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { Authctl, mintPhantoms, storeApiKey } from "../dist/index.js";
import { interleaved, machine, markdownTable, median, ms, percentile, time } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const REQUESTS_PER_ROUND = 300;
const STREAM = { events: 40, gapMs: 5 };
/** 100 agents streaming a model's answer at once: events paced as a model emits them. */
const PACED = { clients: 100, events: 50, gapMs: 10 };
/** The same 100 clients with the upstream writing as fast as they read: a CPU-bound worst case. */
const BULK = { clients: 100, events: 256, size: 1024 };
const MEMORY_REQUESTS = 10_000;
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-proxy-"));
const children = [];
const notes = [];

async function start(script, args = [], execArgv = []) {
  const child = fork(join(REPO, "bench", script), args, { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.push(child);
  const [message] = await once(child, "message");
  return { child, message };
}

/** A home with an anthropic key whose proxy route points at the bench upstream, and a session's phantom. */
function benchHome(upstream) {
  const home = join(scratch, "home");
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  const entry = parse(readFileSync(join(REPO, "resources/agents/anthropic.yaml"), "utf8"));
  entry.proxy.api_key = { ...entry.proxy.api_key, base_url: upstream, allow_paths: ["/v1"] };
  writeFileSync(join(home, "agents/anthropic.yaml"), stringify(entry));
  const context = new Authctl({ env: { ...process.env, AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file" }, home });
  storeApiKey("anthropic", `sk-ant-bench-${"k".repeat(40)}`, { context });
  // Agents, not one: the proxy bounds the connections one session holds (32 by default), and 100 clients share these.
  const phantoms = Array.from({ length: 4 }, (_, i) => mintPhantoms("anthropic", { context, sessionId: `bench-${i}` }).accessToken);
  context.close();
  return { home, phantom: phantoms };
}

/** One way to the upstream: its base URL, a keep-alive agent (as a CLI keeps its connection) and the key header. */
const route = (base, key) => ({ base, key, agent: new http.Agent({ keepAlive: true, maxSockets: Infinity }) });
let sent = 0;

function send(via, path, { method = "GET", body, onData } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { "x-api-key": Array.isArray(via.key) ? via.key[sent++ % via.key.length] : via.key, ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}) };
    const req = http.request(`${via.base}${path}`, { method, headers, agent: via.agent }, (res) => {
      let bytes = 0;
      res.on("data", (chunk) => {
        bytes += chunk.length;
        onData?.(chunk);
      });
      res.on("end", () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${via.base}${path}: HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const BODY = JSON.stringify({ model: "claude-bench", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
const message = (via) => send(via, "/v1/messages", { method: "POST", body: BODY });

/** Sequential requests, direct and proxied alternately; p50/p99 per round, medians over rounds. */
async function latency(direct, proxied) {
  for (let i = 0; i < 200; i++) await Promise.all([message(direct), message(proxied)]);
  const rounds = [];
  for (let r = 0; r < RUNS; r++) {
    const d = [];
    const p = [];
    for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
      d.push(await time(() => message(direct)));
      p.push(await time(() => message(proxied)));
    }
    rounds.push({ d50: percentile(d, 50), p50: percentile(p, 50), d99: percentile(d, 99), p99: percentile(p, 99) });
  }
  const m = (k) => median(rounds.map((x) => x[k]));
  const added50 = m("p50") - m("d50");
  const added99 = m("p99") - m("d99");
  return [
    ["added latency per request, p50 (POST, keep-alive, 127.0.0.1)", ms(m("d50")), ms(m("p50")), `+${ms(added50)}`, "≤ +1 ms", added50 <= 1],
    ["added latency per request, p99", ms(m("d99")), ms(m("p99")), `+${ms(added99)}`, "≤ +5 ms", added99 <= 5],
  ];
}

/** Each SSE event's delay from the upstream's write (monotonic clock, shared by processes) to the client. */
async function eventDelays(via) {
  const delays = [];
  let pending = "";
  await send(via, `/v1/stream?n=${STREAM.events}&gap=${STREAM.gapMs}`, {
    onData: (chunk) => {
      const arrived = process.hrtime.bigint();
      pending += chunk.toString();
      const events = pending.split("\n\n");
      pending = events.pop();
      for (const event of events) {
        const sent = /"t":"(\d+)"/.exec(event)?.[1];
        if (sent) delays.push(Number(arrived - BigInt(sent)) / 1e6);
      }
    },
  });
  if (delays.length !== STREAM.events) throw new Error(`${via.base}: ${delays.length} of ${STREAM.events} events arrived`);
  return median(delays);
}

async function sse(direct, proxied) {
  const { baseline: d, subject: p } = await interleaved(RUNS, () => eventDelays(direct), () => eventDelays(proxied));
  const added = median(p) - median(d);
  return [[`SSE event delay, upstream write → client (${STREAM.events} events ${STREAM.gapMs} ms apart)`, ms(median(d)), ms(median(p)), `+${ms(added)}`, "≤ +1 ms", added <= 1]];
}

/** 100 paced streams at once; events per second over the whole batch. */
async function pacedRate(via) {
  const started = performance.now();
  let events = 0;
  const count = (chunk) => (events += chunk.toString().split("\n\n").length - 1);
  await Promise.all(Array.from({ length: PACED.clients }, () => send(via, `/v1/stream?n=${PACED.events}&gap=${PACED.gapMs}`, { onData: count })));
  if (events !== PACED.clients * PACED.events) throw new Error(`${via.base}: ${events} events, expected ${PACED.clients * PACED.events}`);
  return events / ((performance.now() - started) / 1000);
}

async function pacedThroughput(direct, proxied) {
  const { baseline: d, subject: p } = await interleaved(RUNS, () => pacedRate(direct), () => pacedRate(proxied));
  const ratio = median(p) / median(d);
  const eps = (v) => `${v.toFixed(0)} events/s`;
  const figure = `${PACED.clients} concurrent SSE streams paced like a model (${PACED.events} events ${PACED.gapMs} ms apart each), throughput`;
  return [[figure, eps(median(d)), eps(median(p)), `${ratio.toFixed(3)}×`, "≥ 0.90×", ratio >= 0.9]];
}

/** 100 clients streaming at once, as fast as the upstream writes; MB/s over the whole batch. */
async function bulkRate(via) {
  const started = performance.now();
  const sizes = await Promise.all(Array.from({ length: BULK.clients }, () => send(via, `/v1/bulk?n=${BULK.events}&size=${BULK.size}`)));
  const bytes = sizes.reduce((a, b) => a + b, 0);
  if (bytes !== BULK.clients * BULK.events * BULK.size) throw new Error(`${via.base}: ${bytes} bytes streamed, expected ${BULK.clients * BULK.events * BULK.size}`);
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

/** CPU time (user + system) a process has used, in ms: a cost per byte that other load does not skew. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks, USER_HZ = 100 on Linux
}

async function throughput(direct, proxied, daemon) {
  let daemonCpu = 0;
  let relayed = 0;
  const viaProxy = async () => {
    const before = cpuMs(daemon.pid);
    const rate = await bulkRate(proxied);
    daemonCpu += cpuMs(daemon.pid) - before;
    relayed += BULK.clients * BULK.events * BULK.size;
    return rate;
  };
  const { baseline: d, subject: p } = await interleaved(RUNS, () => bulkRate(direct), viaProxy);
  notes.push(`The daemon spent ${(daemonCpu / (relayed / 1e6)).toFixed(2)} ms of CPU per MB it relayed in the unpaced streams.`);
  const ratio = median(p) / median(d);
  const mbs = (v) => `${v.toFixed(0)} MB/s`;
  return [[`${BULK.clients} concurrent unpaced streams (${BULK.events} × ${BULK.size} B SSE each, CPU-bound), throughput`, mbs(median(d)), mbs(median(p)), `${ratio.toFixed(3)}×`, "≥ 0.90×", ratio >= 0.9]];
}

/** The daemon's heap (after a GC) and RSS over 10,000 proxied requests, 10 at a time. */
async function memory(daemon, proxied) {
  const sample = async () => {
    daemon.send("memory");
    const [{ memory: m }] = await once(daemon, "message");
    return { heap: m.heapUsed / 2 ** 20, rss: m.rss / 2 ** 20 };
  };
  const batch = async (n) => {
    for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: 10 }, () => message(proxied)));
  };
  await batch(1_000); // warm: JIT, agents, statement caches
  const samples = [await sample()];
  for (let done = 0; done < MEMORY_REQUESTS; done += 2_500) {
    await batch(2_500);
    samples.push(await sample());
  }
  const first = samples[0];
  const last = samples.at(-1);
  const heapGrowth = last.heap - first.heap;
  const rssGrowth = last.rss - first.rss;
  const mib = (v) => `${v.toFixed(1)} MiB`;
  const trail = samples.map((s) => s.heap.toFixed(1)).join(" → ");
  return [
    [
      `daemon memory over ${MEMORY_REQUESTS.toLocaleString("en")} proxied requests (heap after GC every 2,500: ${trail} MiB)`,
      `${mib(first.heap)} heap, ${mib(first.rss)} RSS`,
      `${mib(last.heap)} heap, ${mib(last.rss)} RSS`,
      `${heapGrowth >= 0 ? "+" : ""}${mib(heapGrowth)} heap, ${rssGrowth >= 0 ? "+" : ""}${mib(rssGrowth)} RSS`,
      "flat (heap ≤ +2 MiB)",
      heapGrowth <= 2,
    ],
  ];
}

try {
  const { message: up } = await start("proxy-upstream.mjs");
  const upstream = `http://127.0.0.1:${up.port}`;
  const { home, phantom } = benchHome(upstream);
  const { child: daemon, message: listening } = await start("proxy-daemon.mjs", [home], ["--expose-gc"]);
  const direct = route(upstream, "sk-direct");
  const proxied = route(listening.proxy.url, phantom);

  const header = `Machine: ${machine("podman")}. Medians of ${RUNS} interleaved rounds (latency: ${REQUESTS_PER_ROUND} request pairs per round).`;
  console.error(header);
  const figures = { latency, sse, paced: pacedThroughput, throughput: (d, p) => throughput(d, p, daemon), memory: (_d, p) => memory(daemon, p) };
  // BENCH_ONLY=sse,throughput runs just those (and leaves bench/last-proxy-run.md alone).
  const only = process.env.BENCH_ONLY?.split(",");
  const rows = [];
  for (const [name, figure] of Object.entries(figures)) if (!only || only.includes(name)) rows.push(...(await figure(direct, proxied)));
  const table = markdownTable(rows.map((r) => [...r.slice(0, 5), r[5] ? "yes" : "**no**"]));
  // Three processes share the CPUs with whatever else runs: the load tells how far to trust the tails.
  const load = `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(", ")} on ${cpus().length} CPUs.`;
  const report = [header, "", table, "", ...notes, load, ""].join("\n");
  console.log(report);
  if (!only) writeFileSync(join(REPO, "bench/last-proxy-run.md"), report);
} finally {
  for (const child of children) child.kill();
  rmSync(scratch, { recursive: true, force: true });
}
