import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { canary, tempHome } from "./env.js";

/**
 * A throwaway PostgreSQL cluster for a test file: Debian's binaries, a data directory in a fresh
 * temp dir owned by the `postgres` account (PostgreSQL refuses to run as root, and tests run as
 * root), listening on 127.0.0.1 on a free port with its socket in that dir, password (SCRAM) auth
 * with a canary password. Starting one costs a second or two: share it per file and give each test
 * its own database (`database(name)`).
 */
export interface PostgresCluster {
  /** The admin URL (database `postgres`), canary password included. */
  url: string;
  port: number;
  /** Creates a database and returns its URL. */
  database(name: string): Promise<string>;
  /** Stops the server (fast shutdown: clients are disconnected), keeping its data; `start` brings it back on the same port. */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** A fast shutdown and a start: every connection is cut, nothing committed is lost. */
  restart(): Promise<void>;
  /** An immediate shutdown (SIGQUIT: no checkpoint, recovery at the next start), as close to a crash as leaves the cluster startable. */
  kill(): Promise<void>;
  /** Stops the server and removes the cluster. */
  stop(): Promise<void>;
}

function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(root, versions[0], "bin");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const idOf = (flag: "-u" | "-g") => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());

/**
 * Starts a cluster, or (PostgreSQL not installed) returns undefined after saying why, so the file
 * skips; with CI=true a missing PostgreSQL is a failure, never a skip.
 */
export async function startPostgres(): Promise<PostgresCluster | undefined> {
  const bin = postgresBin();
  const uid = idOf("-u");
  if (!bin || !Number.isInteger(uid) || uid <= 0) {
    const why = !bin ? "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" : "no `postgres` account";
    if (process.env.CI === "true") throw new Error(`CI=true and ${why}: the PostgreSQL store tests cannot run`);
    console.warn(`skipping PostgreSQL store tests: ${why}`);
    return undefined;
  }
  const gid = idOf("-g");
  const dir = mkdtempSync(join(tmpdir(), "authctl-pg-"));
  chownSync(dir, uid, gid);
  const data = join(dir, "data");
  const password = canary("pgpw");
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  const asPostgres = (argv: string[]) => ["--reuid=postgres", "--regid=postgres", "--clear-groups", "--", ...argv];
  const init = spawnSync(
    "setpriv",
    asPostgres([join(bin, "initdb"), "-D", data, "-U", "authctl", `--pwfile=${pwfile}`, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
    { encoding: "utf8", cwd: dir, timeout: 60_000 },
  );
  rmSync(pwfile, { force: true });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const url = `postgres://authctl:${password}@127.0.0.1:${port}/postgres`;
  const log = join(dir, "postgres.log");
  let server: ChildProcess | undefined;

  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
      try {
        await client.connect();
        await client.query("SELECT 1");
        return;
      } catch (err) {
        if (server?.exitCode !== null || Date.now() > deadline) {
          throw new Error(`PostgreSQL did not start on port ${port}: ${(err as Error).message}\n${existsSync(log) ? readFileSync(log, "utf8").slice(-2000) : ""}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  };

  const start = async () => {
    const out = openSync(log, "a");
    server = spawn(
      "setpriv",
      asPostgres([join(bin, "postgres"), "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "full_page_writes=off"]),
      { cwd: dir, stdio: ["ignore", out, out] },
    );
    await ready();
  };

  const signal = async (sig: NodeJS.Signals) => {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise((r) => s.once("exit", r));
    s.kill(sig);
    await exited;
  };

  await start();
  return {
    url,
    port,
    async database(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`);
      } finally {
        await client.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    halt: () => signal("SIGINT"),
    start,
    async restart() {
      await signal("SIGINT");
      await start();
    },
    kill: () => signal("SIGQUIT"),
    async stop() {
      await signal("SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A test file's cluster and temp homes (one per prefix): started before its tests, stopped and
 * removed after them. `cluster` stays undefined where PostgreSQL is not installed: the file skips.
 */
export function usePostgres(...homePrefixes: string[]): { readonly cluster: PostgresCluster | undefined; homes: string[] } {
  const dirs = homePrefixes.map((prefix) => tempHome(prefix));
  const fixture = { cluster: undefined as PostgresCluster | undefined, homes: dirs.map((d) => d.home) };
  beforeAll(async () => {
    fixture.cluster = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await fixture.cluster?.stop();
    for (const d of dirs) d.cleanup();
  });
  return fixture;
}

/**
 * The relay's own process: a store in the test's process waits on its worker synchronously, and
 * would starve a relay running on the same event loop. Commands on stdin, one a line; after each,
 * a line `{"port":…,"accepted":…}` on stdout.
 */
const RELAY_SOURCE = `
const net = require("node:net");
const target = Number(process.argv[1]);
const pairs = new Set();
let server;
let port = 0;
let accepted = 0;
let stalled = false;
const stall = ([client, upstream]) => {
  client.unpipe();
  if (upstream) upstream.unpipe();
  client.pause();
  if (upstream) upstream.pause();
};
const listen = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer((client) => {
      accepted++;
      const pair = [client, stalled ? undefined : net.connect(target, "127.0.0.1")];
      pairs.add(pair);
      for (const socket of pair) {
        if (!socket) continue;
        socket.on("close", () => pairs.delete(pair));
        socket.on("error", () => pair.forEach((x) => x && x.destroy()));
      }
      if (pair[1]) client.pipe(pair[1]).pipe(client);
      else stall(pair);
    });
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => {
      port = s.address().port;
      server = s;
      resolve();
    });
  });
const destroyAll = () => {
  for (const pair of pairs) pair.forEach((x) => x && x.destroy());
  pairs.clear();
};
const commands = {
  start: () => listen(),
  accepted: async () => {},
  async cut() {
    const s = server;
    server = undefined;
    const closed = new Promise((r) => (s ? s.close(r) : r()));
    destroyAll();
    await closed;
  },
  async stall() {
    stalled = true;
    pairs.forEach(stall);
  },
  async heal() {
    if (stalled) destroyAll();
    stalled = false;
    if (!server) await listen();
  },
};
let queue = Promise.resolve();
require("node:readline").createInterface({ input: process.stdin }).on("line", (line) => {
  queue = queue.then(() => commands[line]()).then(() => process.stdout.write(JSON.stringify({ port, accepted }) + "\\n"));
});
process.stdin.on("end", () => process.exit(0));
`;

/**
 * The only road from one host to PostgreSQL: a TCP forwarder the test can cut (every connection
 * destroyed, nothing listening, so a connect is refused), stall (a partition that sends no FIN or
 * RST: open connections carry nothing more, a new one is accepted and never answered) and heal
 * (forwarding again on the same port; stalled connections reset, as a peer that lost their state).
 */
export async function tcpRelay(targetPort: number) {
  const child = spawn(process.execPath, ["-e", RELAY_SOURCE, String(targetPort)], { stdio: ["pipe", "pipe", "inherit"] });
  const replies = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const send = async (command: string) => {
    child.stdin!.write(`${command}\n`);
    const reply = await replies.next();
    if (reply.done) throw new Error(`the TCP relay exited before answering "${command}"`);
    return JSON.parse(reply.value) as { port: number; accepted: number };
  };
  const { port } = await send("start");
  return {
    port: () => port,
    accepted: async () => (await send("accepted")).accepted,
    cut: async () => void (await send("cut")),
    stall: async () => void (await send("stall")),
    heal: async () => void (await send("heal")),
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await exited;
    },
  };
}

export type TcpRelay = Awaited<ReturnType<typeof tcpRelay>>;
