import { execa, type ResultPromise } from "execa";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { parse, stringify } from "yaml";
import { Authctl } from "../../src/context.js";
import { storePaths } from "../../src/core/paths.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { startPostgres, type PostgresCluster } from "../helpers/postgres.js";

/** The environment of one fleet host: its own home, the shared store URL, the key from its home's key file. */
export const fleetEnv = (home: string, storeUrl: string) => childEnv(home, { AUTHCTL_STORE_URL: storeUrl });

/** Points claude's OAuth proxy route (and its refresh) at the fake vendor, in this home's roster. */
export function routeClaudeTo(home: string, vendorUrl: string): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "claude.yaml"), "utf8"));
  entry.proxy.oauth = { ...entry.proxy.oauth, base_url: vendorUrl, allow_paths: ["/v1"], refresh: { token_url: `${vendorUrl}/oauth/token`, client_id: "fleet-test" } };
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "agents", "claude.yaml"), stringify(entry));
}

/** Key distribution as a fleet does it: the first host's key file, copied into another host's home. */
export function copyKeyFile(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  copyFileSync(storePaths(from).keyFile, storePaths(to).keyFile);
}

export interface FleetDaemon {
  name: string;
  home: string;
  url: string;
  pid: number;
  /** What the daemon wrote to stderr so far (for leak checks and failure messages). */
  stderr: () => string;
  stop: () => Promise<void>;
  kill: () => Promise<void>;
}

/**
 * `authctl proxy serve` for one host of the fleet. Each runs in its own UTS namespace with its own
 * hostname, as on separate machines: a lease held by a daemon of another host is taken over only at
 * its TTL, never because its pid is not running here.
 */
export async function startFleetDaemon(name: string, home: string, env: Record<string, string>): Promise<FleetDaemon> {
  const script = 'hostname "$1" && exec node "$2" proxy serve --port 0 --no-tls --json';
  const child: ResultPromise = execa("unshare", ["--uts", "--", "sh", "-c", script, "sh", `fleet-${name}`, CLI], { env, extendEnv: false, reject: false, stdin: "ignore" });
  let errText = "";
  child.stderr!.on("data", (d: Buffer) => (errText += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const end = text.indexOf("}\n");
      if (end >= 0) resolve((JSON.parse(text.slice(0, end + 1)) as { url: string }).url);
    });
    void child.then(() => reject(new Error(`daemon ${name} exited before listening: ${errText}`)));
  });
  const ended = async (signal: NodeJS.Signals) => {
    child.kill(signal);
    await child;
  };
  return { name, home, url, pid: child.pid!, stderr: () => errText, stop: () => ended("SIGTERM"), kill: () => ended("SIGKILL") };
}

/**
 * A vendor stand-in: an API at /v1/* that takes only the newest access token, and an OAuth token
 * endpoint whose refresh tokens are single-use (a reused one is refused, as Anthropic's and
 * OpenAI's are). `hang` holds that many refresh calls unanswered without spending their token.
 */
export async function fakeOAuthVendor(options: { refreshDelayMs?: number } = {}) {
  const state = {
    access: canary("fleet-access-"),
    live: new Set<string>(),
    refreshArrivals: 0,
    spends: 0,
    reused: 0,
    hang: 0,
    hung: [] as http.ServerResponse[],
  };
  const upstream = await fakeUpstream((req, res, body) => {
    if (req.url === "/oauth/token") {
      state.refreshArrivals++;
      if (state.hang > 0) {
        state.hang--;
        state.hung.push(res);
        return;
      }
      const sent = JSON.parse(body.toString()) as { refresh_token?: string };
      if (!sent.refresh_token || !state.live.delete(sent.refresh_token)) {
        state.reused++;
        return void res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "invalid_grant" }));
      }
      state.spends++;
      const pair = { access_token: canary("fleet-access-"), refresh_token: canary("fleet-refresh-") };
      state.live.add(pair.refresh_token);
      // Answered late, so requests on every host pile up behind the one refresh in flight.
      setTimeout(() => {
        state.access = pair.access_token;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...pair, expires_in: 3600 }));
      }, options.refreshDelayMs ?? 200);
      return;
    }
    if (req.headers.authorization !== `Bearer ${state.access}`) return void res.writeHead(401, { "content-type": "application/json" }).end("{}");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true }));
  });
  /** A login whose access token has expired and whose refresh token the vendor will take once. */
  const expiredLogin = () => {
    const accessToken = canary("fleet-expired-");
    const refreshToken = canary("fleet-refresh-");
    state.live.add(refreshToken);
    const files = { ".credentials.json": JSON.stringify({ claudeAiOauth: { accessToken, refreshToken, expiresAt: Date.now() - 60_000 } }) };
    return { payload: { type: "oauth", provider: "claude", files, accessToken, refreshToken }, expiresAt: new Date(Date.now() - 60_000) };
  };
  const close = async () => {
    for (const res of state.hung.splice(0)) res.destroy();
    await upstream.close();
  };
  return { url: upstream.url, state, arrivals: upstream.arrivals, expiredLogin, close };
}

export interface Answer {
  status: number;
  body: string;
  at: number;
}

/** One proxied request with a phantom, on its own connection; a connection error is status 0. */
export function proxied(base: string, phantom: string, timeoutMs = 90_000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(`${base}/v1/messages`, { method: "POST", agent: false, timeout: timeoutMs, headers: { authorization: `Bearer ${phantom}`, "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), at: performance.now() }));
      res.on("error", (e) => resolve({ status: 0, body: e.message, at: performance.now() }));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (e) => resolve({ status: 0, body: e.message, at: performance.now() }));
    req.end('{"m":1}');
  });
}

/** How many lines of `op` the homes' audit logs hold (the refresh that stored the rotated pair). */
export function auditOps(homes: string[], op: string): number {
  let count = 0;
  for (const home of homes) {
    let text = "";
    try {
      text = readFileSync(join(home, "audit.jsonl"), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) if (line.includes(`"op":"${op}"`)) count++;
  }
  return count;
}

export interface Fleet {
  /** Undefined before the fixture started, and where PostgreSQL is not installed (the file skips). */
  pg: PostgresCluster | undefined;
  /** The fleet's database (daemons may reach it by another road: `daemonUrls`). */
  url: string;
  homes: string[];
  vendor: Awaited<ReturnType<typeof fakeOAuthVendor>>;
  /** A store of the first home, to seed rows and read what the daemons stored. */
  seed: CredentialStore;
  context: Authctl;
  daemons: FleetDaemon[];
  /** Every token stored so far: none may reach a daemon's output. */
  secrets: string[];
  /** Stores a login whose access token expired; the vendor takes its refresh token once. */
  storeExpiredLogin(): void;
  phantomFor(sessionId: string): string;
  stored(): { accessToken: string; refreshToken: string };
  /** No daemon wrote a token or the database password to its output. */
  expectNoLeaks(): void;
}

/**
 * A test file's fleet: PostgreSQL, the fake vendor routed in each home's roster, the first home's
 * store holding an expired login (which makes the store key the other homes copy), and three
 * daemons started on the database. `daemonUrls` gives each daemon its road to it (a relay the
 * test owns); all stopped and removed after the file's tests.
 */
export function useFleet(name: string, daemonUrls?: (url: string, pg: PostgresCluster) => Promise<string[]>): Fleet {
  const dirs = ["a", "b", "c"].map((host) => tempHome(`authctl-${name}-${host}-`));
  const fleet = {
    homes: dirs.map((d) => d.home),
    daemons: [],
    secrets: [],
    storeExpiredLogin() {
      const login = fleet.vendor.expiredLogin();
      fleet.secrets.push(login.payload.accessToken, login.payload.refreshToken);
      fleet.seed.put("default", "claude", "oauth", login.payload, { preview: `${name}…`, expiresAt: login.expiresAt });
    },
    phantomFor: (sessionId: string) => mintPhantoms("claude", { context: fleet.context, sessionId }).accessToken,
    stored: () => fleet.seed.get<{ accessToken: string; refreshToken: string }>("default", "claude")!.payload,
    expectNoLeaks() {
      const output = fleet.daemons.map((d) => d.stderr()).join("\n");
      for (const secret of [...fleet.secrets, fleet.vendor.state.access, ...fleet.vendor.state.live]) expect(output).not.toContain(secret);
      expect(output).not.toContain(new URL(fleet.pg!.url).password);
    },
  } as unknown as Fleet;

  beforeAll(async () => {
    const pg = await startPostgres();
    if (!pg) return;
    fleet.pg = pg;
    fleet.vendor = await fakeOAuthVendor();
    for (const home of fleet.homes) routeClaudeTo(home, fleet.vendor.url);
    fleet.url = await pg.database(name);
    const env = fleetEnv(fleet.homes[0]!, fleet.url);
    fleet.seed = CredentialStore.open({ home: fleet.homes[0]!, env });
    fleet.context = new Authctl({ env, home: fleet.homes[0]!, store: fleet.seed });
    fleet.storeExpiredLogin();
    for (const home of fleet.homes.slice(1)) copyKeyFile(fleet.homes[0]!, home);
    const urls = daemonUrls ? await daemonUrls(fleet.url, pg) : fleet.homes.map(() => fleet.url);
    fleet.daemons = await Promise.all(fleet.homes.map((home, i) => startFleetDaemon("abc"[i]!, home, fleetEnv(home, urls[i]!))));
  });

  afterAll(async () => {
    await Promise.all(fleet.daemons.map((d) => d.stop().catch(() => undefined)));
    fleet.seed?.close();
    await fleet.vendor?.close();
    await fleet.pg?.stop();
    for (const d of dirs) d.cleanup();
  });
  return fleet;
}
