// Load generator for `npm run bench:serve`:
//   node serve-load.mjs <socket> <path> <body> <auth> <clients> <ms> <rate>
// runs <clients> keep-alive clients for <ms> and prints JSON {requests, rps, p50, p99} (ms).
// rate 0: closed loop, each client sends its next request as soon as the last is answered (the
// most the server can do). rate N: open loop, the clients together send N requests/s on a fixed
// schedule, and a request that could not leave on time (its client still waiting on the server)
// counts from when it was due, so a stall is not hidden. The same client measures baseline and authctl.
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

const [socketPath, path, body, authorization, clientsArg, durationArg, rateArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const duration = Number(durationArg);
const rate = Number(rateArg ?? 0);
const agent = new Agent({ keepAlive: true, maxSockets: clients });
const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...(authorization ? { authorization } : {}) };

function once() {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "POST", headers, agent }, (res) => {
      let size = 0;
      res.on("data", (c) => (size += c.length));
      res.on("end", () => (res.statusCode === 200 && size > 0 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const latencies = [];
async function closedClient(until, record) {
  while (performance.now() < until) {
    const start = performance.now();
    await once();
    if (record) latencies.push(performance.now() - start);
  }
}

async function openClient(start, until, index) {
  const interval = (1000 * clients) / rate;
  let previousEnd = 0;
  for (let k = 0; ; k++) {
    const due = start + ((index / clients) + k) * interval;
    if (due >= until) return;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    // Late because the server kept us waiting: count from when it was due. Late only because
    // the timer fired late: count from the send, the server had no part in that.
    const from = previousEnd > due ? due : performance.now();
    await once();
    previousEnd = performance.now();
    latencies.push(previousEnd - from);
  }
}

// A short warm-up opens every connection and lets the server's JIT settle; only then we count.
await Promise.all(Array.from({ length: clients }, () => closedClient(performance.now() + 300, false)));
const start = performance.now();
await Promise.all(Array.from({ length: clients }, (_, i) => (rate > 0 ? openClient(start, start + duration, i) : closedClient(start + duration, true))));
const elapsed = performance.now() - start;
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({ requests: latencies.length, rps: (latencies.length * 1000) / elapsed, p50: at(0.5), p99: at(0.99) }));
agent.destroy();
