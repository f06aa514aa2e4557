// CPU per proxied request of two builds of authctl, interleaved in one run (the proxy's cost per
// request before and after a change, under the same load):
//   node bench/proxy-ab.mjs <repoA> <repoB>     (each a checkout with `npm run build` done)
// Each build's daemon (its bench/proxy-daemon.mjs) gets its own home, phantoms with the bench's
// policy, and the same upstream (bench/proxy-upstream.mjs). Phases (BENCH_AB=seq,conc,s1,s256):
// small POSTs one at a time, 32 clients at once, 100 streams of 1 event, 100 of 256 KB. Prints the
// daemon's CPU (user + system, /proc) per request and the wall time per request, medians of rounds.
// BENCH_PROFILE=<dir>: each daemon writes a --cpu-prof profile under <dir>/A and <dir>/B, and
// <dir>/windows.json says when each phase ran (µs, the profile's clock); read one phase of one
// build with bench/proxy-profile.mjs.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parse, stringify } from "yaml";
import { median } from "./lib.mjs";

const repos = process.argv.slice(2, 4).map((r) => resolve(r));
if (repos.length !== 2) throw new Error("usage: node bench/proxy-ab.mjs <repoA> <repoB>");
const phases = (process.env.BENCH_AB ?? "seq,conc,s1,s256").split(",");
const ROUNDS = Number(process.env.BENCH_RUNS ?? 5);
const KEY = `sk-ant-bench-${"k".repeat(40)}`;
const POLICY = { methods: ["GET", "POST"], allow: ["POST /v1/messages", "GET /v1/bulk"], deny: ["* /v1/organizations/**"], maxRequests: 1e9, maxBytes: 1e13, rate: { count: 1e9, perMs: 1_000 } };
const BODY = JSON.stringify({ model: "claude-bench", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-ab-"));
const children = [];

const profile = process.env.BENCH_PROFILE && resolve(process.env.BENCH_PROFILE);
/** The monotonic clock in µs, as V8's profiles stamp their samples. */
const now = () => Number(process.hrtime.bigint() / 1000n);

async function start(repo, script, args = [], execArgv = []) {
  const child = fork(join(repo, "bench", script), args, { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.push(child);
  const [message] = await once(child, "message");
  return { child, message };
}
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};

function send(way, path, method = "GET", body) {
  return new Promise((resolve, reject) => {
    const headers = { "x-api-key": way.phantoms[way.sent++ % way.phantoms.length], ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}) };
    const req = http.request(`${way.url}${path}`, { method, headers, agent: way.agent }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`${way.name}${path}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const post = (way) => send(way, "/v1/messages", "POST", BODY);
const streams = (way, rounds, events) => async () => {
  for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: 100 }, () => send(way, `/v1/bulk?n=${events}&size=1024`)));
};
const PHASES = {
  seq: [1_000, (way) => async () => { for (let i = 0; i < 1_000; i++) await post(way); }],
  conc: [2_000, (way) => async () => {
    let left = 2_000;
    await Promise.all(Array.from({ length: 32 }, async () => { while (left-- > 0) await post(way); }));
  }],
  s1: [1_000, (way) => streams(way, 10, 1)],
  s256: [200, (way) => streams(way, 2, 256)],
};

try {
  const { message: up } = await start(repos[0], "proxy-upstream.mjs");
  const upstream = `http://127.0.0.1:${up.port}`;
  const ways = [];
  for (const [i, repo] of repos.entries()) {
    const { Authctl, mintPhantoms, storeApiKey } = await import(join(repo, "dist/index.js"));
    const home = join(scratch, `home-${i}`);
    mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
    const entry = parse(readFileSync(join(repo, "resources/agents/anthropic.yaml"), "utf8"));
    entry.proxy.api_key = { ...entry.proxy.api_key, base_url: upstream, allow_paths: ["/v1"] };
    writeFileSync(join(home, "agents/anthropic.yaml"), stringify(entry));
    const context = new Authctl({ env: { ...process.env, AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file" }, home });
    storeApiKey("anthropic", KEY, { context });
    const phantoms = Array.from({ length: 4 }, (_, k) => mintPhantoms("anthropic", { context, sessionId: `ab-${k}`, policy: POLICY }).accessToken);
    context.close();
    const label = String.fromCharCode(65 + i);
    const { child, message } = await start(repo, "proxy-daemon.mjs", [home], profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profile, label)}`] : []);
    ways.push({ label, name: `${label} (${repo})`, pid: child.pid, url: message.proxy.url, phantoms, sent: 0, agent: new http.Agent({ keepAlive: true, maxSockets: Infinity, timeout: 4_000 }), cpu: {}, wall: {}, windows: {} });
  }
  for (const way of ways) for (let i = 0; i < 300; i++) await post(way);
  for (let r = 0; r < ROUNDS; r++) {
    for (const phase of phases) {
      // Each round starts with the other build, so neither always runs after the same thing.
      for (const way of r % 2 ? [...ways].reverse() : ways) {
        const [count, make] = PHASES[phase];
        const run = make(way);
        const cpu = cpuMs(way.pid);
        const started = performance.now();
        const from = now();
        await run();
        (way.windows[phase] ??= []).push([from, now()]);
        (way.cpu[phase] ??= []).push((cpuMs(way.pid) - cpu) / count);
        (way.wall[phase] ??= []).push((performance.now() - started) / count);
      }
    }
  }
  for (const phase of phases) {
    console.log(`${phase}: ${ways.map((w) => `${w.name} CPU ${median(w.cpu[phase]).toFixed(3)} ms, wall ${median(w.wall[phase]).toFixed(3)} ms per request`).join(" | ")}`);
  }
  if (profile) {
    mkdirSync(profile, { recursive: true });
    writeFileSync(join(profile, "windows.json"), JSON.stringify(Object.fromEntries(ways.map((w) => [w.label, w.windows]))));
  }
} finally {
  for (const child of children) if (child.connected) child.disconnect();
  // A daemon writes its profile as it exits: give it time.
  await new Promise((r) => setTimeout(r, profile ? 5_000 : 1_000));
  for (const child of children) child.kill();
  rmSync(scratch, { recursive: true, force: true });
}
