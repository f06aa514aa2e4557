// `npm run bench:proxy`: the credential proxy of `authctl serve` (issue 10's figures) against the same
// local upstream reached directly and through nginx doing the same header injection, all three
// measured in the same run, interleaved; medians over rounds.
// Processes: this one (the clients), the upstream (bench/proxy-upstream.mjs), the daemon
// (bench/proxy-daemon.mjs: runService, the proxy on a 127.0.0.1 port, audit lines written as usual)
// and nginx (bench/proxy-nginx.mjs; Debian's nginx-light, found on PATH or in /usr/sbin).
// The sessions' phantoms carry a policy (methods, allow and deny rules, budgets, a rate), so every
// proxied request is decided as an agent's would be.
// Prints the table and writes it to bench/last-proxy-run.md. Numbers are reported, never asserted.
// BENCH_RUNS sets the rounds (9), BENCH_ONLY=latency,rate,sse,paced,throughput,memory a subset,
// BENCH_POLICY=off mints the phantoms without a session policy,
// BENCH_DAEMON_FLAGS node flags for the daemon (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
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
import { machine, median, ms, percentile, time } from "./lib.mjs";
import { findNginx, startNginx } from "./proxy-nginx.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const REQUESTS_PER_ROUND = 300;
const STREAM = { events: 40, gapMs: 5 };
/** 100 agents streaming a model's answer at once: events paced as a model emits them. */
const PACED = { clients: 100, events: 50, gapMs: 10 };
/** The same 100 clients with the upstream writing as fast as they read: a CPU-bound worst case. */
const BULK = { clients: 100, events: 256, size: 1024 };
const MEMORY_REQUESTS = 10_000;
/** Keep-alive clients sending small POSTs as fast as answered, for requests per second. */
const RATE = { clients: 32, requests: 3_000 };
const KEY = `sk-ant-bench-${"k".repeat(40)}`;
/** What each session may do: wide enough for the bench, but every rule kind is evaluated per request. */
const POLICY = {
  methods: ["GET", "POST"],
  allow: ["POST /v1/messages", "GET /v1/stream", "GET /v1/bulk"],
  deny: ["* /v1/organizations/**", "POST /v1/files"],
  maxRequests: 1e9,
  maxBytes: 1e13,
  rate: { count: 1e9, perMs: 1_000 },
};
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
  storeApiKey("anthropic", KEY, { context });
  // Agents, not one: the proxy bounds the connections one session holds (32 by default), and 100 clients share these.
  const phantoms = Array.from({ length: 4 }, (_, i) => mintPhantoms("anthropic", { context, sessionId: `bench-${i}`, ...(process.env.BENCH_POLICY === "off" ? {} : { policy: POLICY }) }).accessToken);
  context.close();
  return { home, phantom: phantoms };
}

/** One way to the upstream: its base URL, a keep-alive agent (as a CLI keeps its connection) and the key header. */
// Idle sockets are dropped after 4 s, before the proxy's 5 s keep-alive timeout closes them: on a loaded
// machine a round of the other ways can take longer, and a request sent on a socket the server is
// closing fails with "socket hang up".
const route = (name, base, key) => ({ name, base, key, agent: new http.Agent({ keepAlive: true, maxSockets: Infinity, timeout: 4_000 }) });
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
      res.on("error", (error) => reject(new Error(`${via.name} ${path}: ${error.message}`)));
    });
    req.on("error", (error) => reject(new Error(`${via.name} ${path}: ${error.message}`)));
    req.end(body);
  });
}

/** Calls each way in turn `runs` times after one warm-up each, so drift and a busy neighbour hit all alike. */
async function interleaved(runs, ways, fn) {
  for (const via of ways) await fn(via);
  const out = ways.map(() => []);
  for (let r = 0; r < runs; r++) for (const [i, via] of ways.entries()) out[i].push(await fn(via));
  return out;
}

/** A table row: the figure, each way's value, authctl's and nginx's result against direct, the target, met. */
const row = (figure, values, results, target, met) => [figure, ...values, ...results, target, met];

const BODY = JSON.stringify({ model: "claude-bench", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
const message = (via) => send(via, "/v1/messages", { method: "POST", body: BODY });

/** Sequential requests, each way in turn; p50/p99 per round, medians over rounds. */
async function latency(ways) {
  for (let i = 0; i < 200; i++) await Promise.all(ways.map((via) => message(via)));
  const rounds = [];
  for (let r = 0; r < RUNS; r++) {
    const samples = ways.map(() => []);
    for (let i = 0; i < REQUESTS_PER_ROUND; i++) for (const [w, via] of ways.entries()) samples[w].push(await time(() => message(via)));
    rounds.push(samples.map((t) => ({ p50: percentile(t, 50), p99: percentile(t, 99) })));
  }
  const m = (w, k) => median(rounds.map((x) => x[w][k]));
  const added = (k) => ways.slice(1).map((_, w) => m(w + 1, k) - m(0, k));
  const plus = (v) => `${v < 0 ? "-" : "+"}${ms(Math.abs(v))}`;
  const [a50] = added("p50");
  const [a99] = added("p99");
  return [
    row("added latency per request, p50 (POST, keep-alive, 127.0.0.1, policy on)", ways.map((_, w) => ms(m(w, "p50"))), added("p50").map(plus), "≤ +0.5 ms", a50 <= 0.5),
    row("added latency per request, p99", ways.map((_, w) => ms(m(w, "p99"))), added("p99").map(plus), "≤ +5 ms", a99 <= 5),
  ];
}

/** RATE.clients keep-alive clients sending small POSTs back to back; requests per second over the batch. */
async function requestRate(via) {
  const started = performance.now();
  let left = RATE.requests;
  const client = async () => {
    while (left-- > 0) await message(via);
  };
  await Promise.all(Array.from({ length: RATE.clients }, client));
  return RATE.requests / ((performance.now() - started) / 1000);
}

async function requestsPerSecond(ways, pids) {
  const cpu = ways.map(() => 0);
  let rounds = 0;
  const rates = (
    await interleaved(RUNS, ways, async (via) => {
      const w = ways.indexOf(via);
      const before = pids[w] ? cpuMs(pids[w]) : 0;
      const rate = await requestRate(via);
      if (pids[w]) cpu[w] += cpuMs(pids[w]) - before;
      if (w === 0) rounds++;
      return rate;
    })
  ).map(median);
  // Per request, the proxy's own work apart from the bytes: what the latency above is made of, and what load does not skew.
  const perRequest = ways.map((via, w) => (pids[w] ? `${via.name} ${(cpu[w] / (rounds * RATE.requests)).toFixed(3)}` : undefined)).filter(Boolean);
  notes.push(`CPU per proxied request in the requests/s phase (ms, the proxy process only): ${perRequest.join(", ")}.`);
  const ratios = rates.slice(1).map((r) => r / rates[0]);
  const figure = `requests/s, ${RATE.clients} keep-alive clients sending small POSTs as fast as answered (policy on)`;
  return [row(figure, rates.map((r) => `${r.toFixed(0)}/s`), ratios.map((r) => `${r.toFixed(3)}×`), "reported", true)];
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

async function sse(ways) {
  const delays = (await interleaved(RUNS, ways, eventDelays)).map(median);
  const added = delays.slice(1).map((d) => d - delays[0]);
  return [row(`SSE event delay, upstream write → client (${STREAM.events} events ${STREAM.gapMs} ms apart)`, delays.map(ms), added.map((a) => `${a < 0 ? "-" : "+"}${ms(Math.abs(a))}`), "≤ +1 ms", added[0] <= 1)];
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

async function pacedThroughput(ways) {
  const rates = (await interleaved(RUNS, ways, pacedRate)).map(median);
  const ratios = rates.slice(1).map((r) => r / rates[0]);
  const figure = `${PACED.clients} concurrent SSE streams paced like a model (${PACED.events} events ${PACED.gapMs} ms apart each), throughput`;
  return [row(figure, rates.map((v) => `${v.toFixed(0)} events/s`), ratios.map((r) => `${r.toFixed(3)}×`), "≥ 0.90×", ratios[0] >= 0.9)];
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

async function throughput(ways, pids) {
  const cpu = ways.map(() => 0);
  let rounds = 0;
  const rates = await interleaved(RUNS, ways, async (via) => {
    const w = ways.indexOf(via);
    const pid = pids[w];
    const before = pid ? cpuMs(pid) : 0;
    const rate = await bulkRate(via);
    if (pid) cpu[w] += cpuMs(pid) - before;
    if (w === 0) rounds++;
    return rate;
  });
  const relayedMb = (rounds * BULK.clients * BULK.events * BULK.size) / 1e6;
  const perMb = ways.map((via, w) => (pids[w] ? `${via.name} ${(cpu[w] / relayedMb).toFixed(2)}` : undefined)).filter(Boolean);
  notes.push(`CPU per MB relayed in the unpaced streams (ms, the proxy process only): ${perMb.join(", ")}.`);
  const medians = rates.map(median);
  const ratios = medians.slice(1).map((r) => r / medians[0]);
  const figure = `${BULK.clients} concurrent unpaced streams (${BULK.events} × ${BULK.size} B SSE each, CPU-bound), throughput`;
  return [row(figure, medians.map((v) => `${v.toFixed(0)} MB/s`), ratios.map((r) => `${r.toFixed(3)}×`), "≥ 0.90×", ratios[0] >= 0.9)];
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
  ].map((r) => [r[0], r[1], r[2], "", r[3], "", r[4], r[5]]);
}

const nginx = findNginx();
let viaNginx;
try {
  const { message: up } = await start("proxy-upstream.mjs");
  const upstream = `http://127.0.0.1:${up.port}`;
  const { home, phantom } = benchHome(upstream);
  const { child: daemon, message: listening } = await start("proxy-daemon.mjs", [home], ["--expose-gc", ...(process.env.BENCH_DAEMON_FLAGS?.split(" ") ?? [])]);
  const ways = [route("direct", upstream, "sk-direct"), route("authctl", listening.proxy.url, phantom)];
  const pids = [undefined, daemon.pid];
  if (nginx) {
    viaNginx = await startNginx(nginx.binary, scratch, upstream, { header: "x-api-key", key: KEY });
    ways.push(route("nginx", viaNginx.url, "sk-client"));
    pids.push(viaNginx.worker());
  } else notes.push("nginx was not found (apt-get install nginx-light, or BENCH_NGINX=/path/to/nginx): its column is empty.");

  const proxies = `authctl's proxy${nginx ? ` and nginx ${nginx.version} (1 worker, proxy_buffering off, upstream keep-alive)` : ""}`;
  const header = `Machine: ${machine("podman")}. Direct vs ${proxies}, medians of ${RUNS} interleaved rounds (latency: ${REQUESTS_PER_ROUND} requests each way per round).`;
  console.error(header);
  const figures = {
    latency,
    rate: (w) => requestsPerSecond(w, pids),
    sse,
    paced: pacedThroughput,
    throughput: (w) => throughput(w, pids),
    memory: (w) => memory(daemon, w[1]),
  };
  // BENCH_ONLY=sse,throughput runs just those (and leaves bench/last-proxy-run.md alone).
  const only = process.env.BENCH_ONLY?.split(",");
  const rows = [];
  for (const [name, figure] of Object.entries(figures)) if (!only || only.includes(name)) rows.push(...(await figure(ways)));
  const columns = ["figure", "direct", "authctl", "nginx", "authctl vs direct", "nginx vs direct", "target (authctl)", "met"];
  const table = [columns, columns.map(() => "---"), ...rows.map((r) => [...r.slice(0, 7).map((c) => c ?? "-"), r[7] ? "yes" : "**no**"])]
    .map((r) => `| ${r.join(" | ")} |`)
    .join("\n");
  // Four processes share the CPUs with whatever else runs: the load tells how far to trust the tails.
  const load = `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(", ")} on ${cpus().length} CPUs.`;
  const report = [header, "", table, "", ...notes, load, ""].join("\n");
  console.log(report);
  if (!only) writeFileSync(join(REPO, "bench/last-proxy-run.md"), report);
} finally {
  // Disconnecting lets the daemon stop cleanly (and write a --cpu-prof profile); kill what lingers.
  for (const child of children) if (child.connected) child.disconnect();
  await Promise.race([Promise.all(children.map((child) => child.exitCode === null && once(child, "exit"))), new Promise((r) => setTimeout(r, 3_000))]);
  for (const child of children) child.kill();
  viaNginx?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
