// `npm run bench:fleet`: the credential proxy on a PostgreSQL store against the same proxy on its
// SQLite store, in the same run, interleaved (issue 24's figures): requests per second and p99 of
// one daemon, then of three daemons (three homes: on SQLite each with its own store, on PostgreSQL
// sharing one store and one key file), and the time from a revoke on one daemon's store to the
// refusal by the other two.
// Processes: this one (the clients), the upstream (bench/proxy-upstream.mjs), the daemons
// (bench/proxy-daemon.mjs: runService with the proxy on a 127.0.0.1 port) and a PostgreSQL cluster
// in a temp dir, run as the `postgres` account (scripts/setup-postgresql.sh installs the binaries).
// Prints ratios (PostgreSQL against SQLite) and the targets; nothing is asserted.
// BENCH_RUNS sets the rounds (5).
import { execFileSync, fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import pg from "pg";
import { Authctl, mintPhantoms, revokeSession, storeApiKey } from "../dist/index.js";
import { machine, median, ms, percentile } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Keep-alive clients sending small POSTs back to back, spread over the daemons. */
const RATE = { clients: 24, requests: 2_400 };
const LATENCY_REQUESTS = 300;
const REVOKES = 7;
const KEY = `sk-ant-bench-${"k".repeat(40)}`;
const BODY = JSON.stringify({ model: "claude-bench", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-fleet-"));
const children = [];

async function start(script, args, env = process.env) {
  const child = fork(join(REPO, "bench", script), args, { env, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.push(child);
  const [message] = await once(child, "message");
  return message;
}

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** A throw-away PostgreSQL cluster (Debian's binaries, as the `postgres` account, password auth on 127.0.0.1). */
async function startPostgres() {
  const root = "/usr/lib/postgresql";
  const bin = existsSync(root) ? readdirSync(root).sort().reverse().map((v) => join(root, v, "bin")).find((d) => existsSync(join(d, "initdb"))) : undefined;
  if (!bin) throw new Error("PostgreSQL's server binaries are missing: run scripts/setup-postgresql.sh (as root)");
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
  // Its own temp dir, not under the (root-only) scratch dir: the postgres account must reach it.
  const dir = mkdtempSync(join(tmpdir(), "authctl-bench-pg-"));
  chownSync(dir, uid, gid);
  const password = randomBytes(16).toString("hex");
  writeFileSync(join(dir, "pw"), password, { mode: 0o600 });
  chownSync(join(dir, "pw"), uid, gid);
  const as = ["--reuid", String(uid), "--regid", String(gid), "--clear-groups"];
  execFileSync("setpriv", [...as, join(bin, "initdb"), "-D", join(dir, "data"), "-U", "authctl", "--pwfile", join(dir, "pw"), "-A", "scram-sha-256"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  const port = await freePort();
  const server = spawn("setpriv", [...as, join(bin, "postgres"), "-D", join(dir, "data"), "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"], { cwd: dir, stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      execFileSync(join(bin, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port)]);
      break;
    } catch {
      if (i > 100) throw new Error("PostgreSQL did not start within 10 s");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stop = async () => {
    if (server.exitCode !== null) return;
    server.kill("SIGINT");
    await once(server, "exit");
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://authctl:${password}@127.0.0.1:${port}/postgres`, stop };
}

/** A home whose anthropic route points at the bench upstream; `keyFrom` copies an existing key file (a fleet's key distribution). */
function benchHome(name, upstream, storeUrl, keyFrom) {
  const home = join(scratch, name);
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  const entry = parse(readFileSync(join(REPO, "resources/agents/anthropic.yaml"), "utf8"));
  entry.proxy.api_key = { ...entry.proxy.api_key, base_url: upstream, allow_paths: ["/v1"] };
  writeFileSync(join(home, "agents/anthropic.yaml"), stringify(entry));
  if (keyFrom) copyFileSync(join(keyFrom, "store.key"), join(home, "store.key"));
  return { home, env: { ...process.env, AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file", ...(storeUrl ? { AUTHCTL_STORE_URL: storeUrl } : { AUTHCTL_STORE_URL: "" }) } };
}

/** Stores the key once per store and mints phantoms for a few sessions (the proxy bounds one session's connections). */
function seed({ home, env }, storeKey = true) {
  const context = new Authctl({ env, home });
  if (storeKey) storeApiKey("anthropic", KEY, { context });
  const phantoms = Array.from({ length: 4 }, (_, i) => mintPhantoms("anthropic", { context, sessionId: `bench-${i}` }).accessToken);
  context.close();
  return phantoms;
}

const agent = () => new http.Agent({ keepAlive: true, maxSockets: Infinity, timeout: 4_000 });

function send(url, phantom, via) {
  return new Promise((resolve, reject) => {
    const headers = { "x-api-key": phantom, "content-type": "application/json", "content-length": Buffer.byteLength(BODY) };
    const req = http.request(`${url}/v1/messages`, { method: "POST", headers, agent: via }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

/** A setup: its daemons' URLs, each with the phantoms its store knows, and a keep-alive agent per daemon. */
async function setup(name, homes, phantomsOf) {
  const daemons = [];
  for (const h of homes) daemons.push({ url: (await start("proxy-daemon.mjs", [h.home], h.env)).proxy.url, phantoms: phantomsOf(h), agent: agent() });
  return { name, daemons };
}

async function ok(url, phantom, via) {
  const status = await send(url, phantom, via);
  if (status !== 200) throw new Error(`${url}: HTTP ${status}`);
}

/** Requests per second: RATE.clients keep-alive clients, client i on daemon i mod n, back to back. */
async function rate({ daemons }) {
  let left = RATE.requests;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RATE.clients }, async (_, i) => {
      const d = daemons[i % daemons.length];
      while (left-- > 0) await ok(d.url, d.phantoms[i % d.phantoms.length], d.agent);
    }),
  );
  return RATE.requests / ((performance.now() - started) / 1000);
}

/** p99 of sequential requests, round robin over the daemons. */
async function p99({ daemons }) {
  const times = [];
  for (let i = 0; i < LATENCY_REQUESTS; i++) {
    const d = daemons[i % daemons.length];
    const t = performance.now();
    await ok(d.url, d.phantoms[i % d.phantoms.length], d.agent);
    times.push(performance.now() - t);
  }
  return percentile(times, 99);
}

/** Runs each figure on both setups in turn, `RUNS` rounds after a warm-up; medians. */
async function compare(sqlite, postgres) {
  for (const s of [sqlite, postgres]) for (let i = 0; i < 200; i++) await ok(s.daemons[i % s.daemons.length].url, s.daemons[i % s.daemons.length].phantoms[0], s.daemons[i % s.daemons.length].agent);
  const out = { sqlite: { rate: [], p99: [] }, postgres: { rate: [], p99: [] } };
  for (let r = 0; r < RUNS; r++) {
    for (const [key, s] of [["sqlite", sqlite], ["postgres", postgres]]) {
      out[key].rate.push(await rate(s));
      out[key].p99.push(await p99(s));
    }
  }
  return { sqlite: { rate: median(out.sqlite.rate), p99: median(out.sqlite.p99) }, postgres: { rate: median(out.postgres.rate), p99: median(out.postgres.p99) } };
}

/** PostgreSQL's count of transactions (every statement outside one counts as one) in the store's database. */
async function transactions(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()");
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

/**
 * Database transactions per proxied request in steady state (the target is none: reads come from
 * the cache). An upper bound: the listeners' heartbeats (a SELECT 1 every 3 s per daemon) count
 * too, when PostgreSQL gets round to counting them (each server process reports at most once a second).
 */
async function roundTrips(url, fleet) {
  const settle = () => new Promise((r) => setTimeout(r, 1_500));
  const requests = 2_000;
  // Every daemon's caches warm first: the revokes before cleared them, and re-verifying the
  // phantoms once is not a per-request cost.
  for (const d of fleet.daemons) for (const phantom of d.phantoms) await ok(d.url, phantom, d.agent);
  await settle();
  const before = await transactions(url);
  await Promise.all(fleet.daemons.map(async (d, i) => {
    for (let n = i; n < requests; n += fleet.daemons.length) await ok(d.url, d.phantoms[n % d.phantoms.length], d.agent);
  }));
  await settle();
  // Our own query counts once.
  const counted = (await transactions(url)) - before - 1;
  return { perRequest: counted / requests, counted, requests };
}

/** A session minted and revoked through home A's store; how long until daemons B and C both answer 401. */
async function revokeLatency(homeA, [, b, c]) {
  const context = new Authctl({ env: homeA.env, home: homeA.home });
  const samples = [];
  try {
    for (let i = 0; i < REVOKES; i++) {
      const phantom = mintPhantoms("anthropic", { context, sessionId: `revoke-${i}` }).accessToken;
      for (const d of [b, c]) await ok(d.url, phantom, d.agent);
      revokeSession(`revoke-${i}`, { context });
      const revoked = performance.now();
      const refused = await Promise.all(
        [b, c].map(async (d) => {
          while ((await send(d.url, phantom, d.agent)) !== 401) if (performance.now() - revoked > 10_000) return Infinity;
          return performance.now() - revoked;
        }),
      );
      samples.push(Math.max(...refused));
    }
  } finally {
    context.close();
  }
  return samples;
}

let cluster;
try {
  const { port } = await start("proxy-upstream.mjs", []);
  const upstream = `http://127.0.0.1:${port}`;
  cluster = await startPostgres();
  // SQLite: three homes, three stores. PostgreSQL: three homes, one store, home p0's key file copied.
  const sqliteHomes = [0, 1, 2].map((i) => benchHome(`s${i}`, upstream));
  const sqlitePhantoms = new Map(sqliteHomes.map((h) => [h, seed(h)]));
  const p0 = benchHome("p0", upstream, cluster.url);
  const shared = seed(p0);
  const pgHomes = [p0, benchHome("p1", upstream, cluster.url, p0.home), benchHome("p2", upstream, cluster.url, p0.home)];
  // One daemon per home (a home has one daemon): the single-daemon figures use each fleet's first.
  const sqliteFleet = await setup("sqlite×3", sqliteHomes, (h) => sqlitePhantoms.get(h));
  const pgFleet = await setup("postgres×3", pgHomes, () => shared);
  const first = (fleet) => ({ ...fleet, daemons: fleet.daemons.slice(0, 1) });
  const one = await compare(first(sqliteFleet), first(pgFleet));
  const three = await compare(sqliteFleet, pgFleet);
  const revokes = await revokeLatency(p0, pgFleet.daemons);
  const perRequest = await roundTrips(cluster.url, pgFleet);

  const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
  const rows = [
    ["figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite", "target"],
    ["---", "---", "---", "---", "---"],
    ["1 daemon: proxied requests/s", one.sqlite.rate.toFixed(0), one.postgres.rate.toFixed(0), ratio(one.postgres.rate, one.sqlite.rate), "≥ 0.9×"],
    ["1 daemon: p99 (sequential)", ms(one.sqlite.p99), ms(one.postgres.p99), ratio(one.postgres.p99, one.sqlite.p99), "≤ 1.1× (lower is better)"],
    ["3 daemons: proxied requests/s (total)", three.sqlite.rate.toFixed(0), three.postgres.rate.toFixed(0), ratio(three.postgres.rate, three.sqlite.rate), "≥ 0.9×"],
    ["3 daemons: p99 (sequential, round robin)", ms(three.sqlite.p99), ms(three.postgres.p99), ratio(three.postgres.p99, three.sqlite.p99), "≤ 1.1× (lower is better)"],
    ["database transactions per proxied request (3 daemons, steady state; heartbeats included)", "-", `≤ ${perRequest.perRequest.toFixed(3)} (${perRequest.counted} for ${perRequest.requests} requests)`, "", "0"],
    ["revoke on A's store → 401 on B and C (median / max)", "n/a (a store per host)", `${ms(median(revokes))} / ${ms(Math.max(...revokes))}`, "", "≤ 1 s"],
  ];
  const header = `Machine: ${machine("podman")}. Medians of ${RUNS} interleaved rounds (${RATE.clients} keep-alive clients × ${RATE.requests} requests; p99 over ${LATENCY_REQUESTS} sequential requests); ${REVOKES} revokes.`;
  const load = `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(", ")} on ${cpus().length} CPUs (the daemons, PostgreSQL, the upstream and the clients share them).`;
  const report = [header, "", ...rows.map((r) => `| ${r.join(" | ")} |`), "", load, ""].join("\n");
  console.log(report);
  writeFileSync(join(REPO, "bench/last-fleet-run.md"), report);
} finally {
  for (const child of children) if (child.connected) child.disconnect();
  await Promise.race([Promise.all(children.map((child) => child.exitCode === null && once(child, "exit"))), new Promise((r) => setTimeout(r, 3_000))]);
  for (const child of children) child.kill();
  await cluster?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
