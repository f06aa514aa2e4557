import { execa } from "execa";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, CLI, tempHome } from "../helpers/env.js";
import { startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { type Answer, auditOps, copyKeyFile, fakeOAuthVendor, fleetEnv, type FleetDaemon, proxied, routeClaudeTo, startFleetDaemon } from "./harness.js";

const HERD = 30;
const say = (line: string) => console.log(`[fleet] ${line}`);

/**
 * Issue 24: three `authctl proxy serve` daemons, each with its own home and hostname (a host of the
 * fleet), sharing one PostgreSQL store and one store key (the first home's key file, copied).
 */
describe("a fleet of three daemons on one PostgreSQL store", () => {
  const dirs = ["a", "b", "c"].map((name) => tempHome(`authctl-fleet-${name}-`));
  const homes = dirs.map((d) => d.home);
  let pg: PostgresCluster | undefined;
  let url: string;
  let vendor: Awaited<ReturnType<typeof fakeOAuthVendor>>;
  let seed: CredentialStore;
  let context: Authctl;
  let daemons: FleetDaemon[] = [];
  const secrets: string[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    if (!pg) return;
    vendor = await fakeOAuthVendor();
    for (const home of homes) routeClaudeTo(home, vendor.url);
    url = await pg.database("fleet");
    const env = fleetEnv(homes[0]!, url);
    seed = CredentialStore.open({ home: homes[0]!, env });
    context = new Authctl({ env, home: homes[0]!, store: seed });
    storeExpiredLogin();
    for (const home of homes.slice(1)) copyKeyFile(homes[0]!, home);
    daemons = await Promise.all(homes.map((home, i) => startFleetDaemon("abc"[i]!, home, fleetEnv(home, url))));
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => undefined)));
    seed?.close();
    await vendor?.close();
    await pg?.stop();
    for (const d of dirs) d.cleanup();
  });

  /** Stores a login whose access token expired; the vendor takes its refresh token once. */
  function storeExpiredLogin(): void {
    const login = vendor.expiredLogin();
    secrets.push(login.payload.accessToken, login.payload.refreshToken);
    seed.put("default", "claude", "oauth", login.payload, { preview: "fleet…", expiresAt: login.expiresAt });
  }

  const phantomFor = (sessionId: string) => mintPhantoms("claude", { context, sessionId }).accessToken;
  const stored = () => seed.get<{ accessToken: string; refreshToken: string }>("default", "claude")!.payload;

  it(`${HERD} concurrent requests across the three daemons after the access token expired: one refresh, every request answered`, async ({ skip }) => {
    if (!pg) return skip();
    const phantom = phantomFor("herd");
    const before = { ...vendor.state };
    const answers = await Promise.all(Array.from({ length: HERD }, (_, i) => proxied(daemons[i % 3]!.url, phantom)));
    const refreshes = vendor.state.refreshArrivals - before.refreshArrivals;
    say(`${HERD} requests over 3 daemons after expiry: ${refreshes} refresh call(s) reached the token endpoint, ${answers.filter((a) => a.status === 200).length}/${HERD} answered 200, ${vendor.state.reused - before.reused} reused refresh token(s)`);
    expect(answers.map((a) => a.status)).toEqual(Array(HERD).fill(200));
    expect(refreshes).toBe(1);
    expect(vendor.state.spends - before.spends).toBe(1);
    expect(vendor.state.reused - before.reused).toBe(0);
    // The rotated pair is the one stored, once: one host's audit log says "refreshed", the others' nothing.
    expect(vendor.state.live.has(stored().refreshToken)).toBe(true);
    expect(stored().accessToken).toBe(vendor.state.access);
    expect(auditOps(homes, "refreshed")).toBe(1);
  });

  it("a session revoked on daemon A's home is refused by daemons B and C within a second", async ({ skip }) => {
    if (!pg) return skip();
    const phantom = phantomFor("revoked-box");
    const [b, c] = [daemons[1]!, daemons[2]!];
    expect([(await proxied(b.url, phantom)).status, (await proxied(c.url, phantom)).status]).toEqual([200, 200]);
    let revokedAt = 0;
    const giveUp = performance.now() + 15_000;
    const poll = async (daemon: FleetDaemon) => {
      const seen: Array<Answer & { sent: number }> = [];
      while (performance.now() < giveUp) {
        const sent = performance.now();
        const answer = await proxied(daemon.url, phantom);
        seen.push({ ...answer, sent });
        if (revokedAt > 0 && answer.status === 401) break;
      }
      return seen;
    };
    const polls = [poll(b), poll(c)];
    const revoke = execa("node", [CLI, "proxy", "revoke", "revoked-box"], { env: fleetEnv(homes[0]!, url), extendEnv: false, reject: false, stdin: "ignore" });
    // The CLI says "revoked" after its transaction committed: the clock starts there.
    revoke.stdout!.on("data", (d: Buffer) => {
      if (revokedAt === 0 && d.toString().includes("revoked")) revokedAt = performance.now();
    });
    const result = await revoke;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const [onB, onC] = await Promise.all(polls);
    const latency = (seen: Array<Answer & { sent: number }>) => {
      const refused = seen.find((a) => a.status === 401);
      return refused ? Math.max(0, refused.at - revokedAt) : Infinity;
    };
    const [lb, lc] = [latency(onB!), latency(onC!)];
    say(`revoke on A → 401 on B after ${lb.toFixed(1)} ms, on C after ${lc.toFixed(1)} ms (${onB!.length + onC!.length} requests polled)`);
    expect(lb).toBeLessThan(1000);
    expect(lc).toBeLessThan(1000);
    // Once refused, refused: no request sent after the first 401 was let through.
    for (const seen of [onB!, onC!]) {
      const firstRefusal = seen.find((a) => a.status === 401)!;
      expect(seen.filter((a) => a.sent > firstRefusal.at).map((a) => a.status).filter((s) => s !== 401)).toEqual([]);
    }
  });

  it("PostgreSQL restarted under load: 503 naming the database meanwhile, then answers again without restarting a daemon; no committed row lost", async ({ skip }) => {
    if (!pg) return skip();
    const phantom = phantomFor("outage-box");
    const pids = daemons.map((d) => d.pid);
    // Steady state first (a login still expired from an earlier test is refreshed now, not mid-outage).
    expect((await proxied(daemons[0]!.url, phantom)).status).toBe(200);
    const digest = (store: CredentialStore) =>
      Object.fromEntries(store.list().map((info) => [`${info.credentialSet}:${info.provider}`, createHash("sha256").update(JSON.stringify(store.get(info.credentialSet, info.provider)!.payload)).digest("hex")]));
    const before = digest(seed);
    let loading = true;
    const answers: Array<Answer & { daemon: string }> = [];
    const load = async (daemon: FleetDaemon) => {
      while (loading) answers.push({ ...(await proxied(daemon.url, phantom, 15_000)), daemon: daemon.name });
    };
    // Writes during the load, each by its own process: the ones that exit 0 were committed and must survive.
    const committed = new Map<string, string>();
    const writes = (async () => {
      for (let i = 0; loading; i++) {
        const key = canary("sk-ant-fleet-");
        const r = await execa("node", [CLI, "key", "anthropic", "--set", `load${i}`, "--stdin"], { env: fleetEnv(homes[1]!, url), extendEnv: false, reject: false, input: key });
        if (r.exitCode === 0) committed.set(`load${i}:anthropic`, key);
        else expect(String(r.stderr)).toMatch(/PostgreSQL store 127\.0\.0\.1:\d+\//);
      }
    })();
    const loads = daemons.map(load);
    await new Promise((r) => setTimeout(r, 1_000));
    const restartStarted = answers.length;
    const t0 = performance.now();
    await pg.restart();
    const restartMs = performance.now() - t0;
    // Recovered: every daemon answers 200 again, with no restart of its own.
    const deadline = performance.now() + 30_000;
    let recoveredAfter = Infinity;
    for (;;) {
      const round = await Promise.all(daemons.map((d) => proxied(d.url, phantom, 15_000)));
      if (round.every((a) => a.status === 200)) {
        recoveredAfter = performance.now() - t0;
        break;
      }
      if (performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    loading = false;
    await Promise.all([...loads, writes]);
    const during = answers.slice(restartStarted);
    const count = (status: number) => during.filter((a) => a.status === status).length;
    const others = during.filter((a) => a.status !== 200 && a.status !== 503);
    say(`PostgreSQL restart took ${restartMs.toFixed(0)} ms; from its start: ${during.length} requests, ${count(200)} × 200, ${count(503)} × 503, ${others.length} other; all 3 daemons answered 200 again ${recoveredAfter.toFixed(0)} ms after the restart began; ${committed.size} writes committed during the load`);
    const sample503 = during.find((a) => a.status === 503);
    if (sample503) say(`a 503 during the outage: ${sample503.body.slice(0, 300)}`);
    const firstOthers = [...new Set(others.map((a) => `${a.daemon} ${a.status} ${a.body.slice(0, 200)}`))].slice(0, 5);
    const logs = daemons.map((d) => `${d.name}: ${d.stderr().slice(-600)}`).join("\n");
    expect(firstOthers, logs).toEqual([]);
    expect(recoveredAfter, logs).toBeLessThan(30_000);
    expect(count(503)).toBeGreaterThan(0);
    for (const a of during.filter((x) => x.status === 503)) {
      expect(a.body).toMatch(/PostgreSQL store 127\.0\.0\.1:\d+\//);
      expect(a.body).not.toContain(new URL(pg.url).password);
    }
    expect(daemons.map((d) => d.pid)).toEqual(pids);
    // Nothing committed is lost: every row from before, the same payloads, and every write that exited 0.
    const after = digest(seed);
    for (const [name, value] of Object.entries(before)) expect(after[name], name).toBe(value);
    for (const [name, key] of committed) expect(seed.get<{ key: string }>(name.split(":")[0]!, "anthropic")?.payload.key, name).toBe(key);
    expect(Object.keys(after).length).toBe(Object.keys(before).length + committed.size);
  }, 90_000);

  it("a daemon SIGKILLed while it holds the refresh lease: another host refreshes after the lease's TTL, and the refresh token is spent once", async ({ skip }) => {
    if (!pg) return skip();
    storeExpiredLogin();
    const phantom = phantomFor("lease-box");
    const [a, b] = [daemons[0]!, daemons[1]!];
    const before = { ...vendor.state };
    vendor.state.hang = 1;
    const onA = proxied(a.url, phantom);
    const waitStart = performance.now();
    while (vendor.state.hung.length === 0 && performance.now() - waitStart < 20_000) await new Promise((r) => setTimeout(r, 20));
    expect(vendor.state.hung.length, "daemon A never called the token endpoint").toBe(1);
    const heldSince = performance.now();
    await a.kill();
    expect((await onA).status).toBe(0);
    const onB = await proxied(b.url, phantom);
    const waited = onB.at - heldSince;
    say(`daemon A SIGKILLed holding the lease: B answered ${onB.status} ${waited.toFixed(0)} ms later (lease TTL 60 s); token endpoint: ${vendor.state.refreshArrivals - before.refreshArrivals} calls, ${vendor.state.spends - before.spends} spend(s), ${vendor.state.reused - before.reused} reused`);
    expect(onB.status, onB.body).toBe(200);
    expect(waited).toBeGreaterThan(50_000);
    expect(vendor.state.refreshArrivals - before.refreshArrivals).toBe(2);
    expect(vendor.state.spends - before.spends).toBe(1);
    expect(vendor.state.reused - before.reused).toBe(0);
    expect(stored().accessToken).toBe(vendor.state.access);
  }, 150_000);

  it("no daemon wrote a token to its output", ({ skip }) => {
    if (!pg) return skip();
    const output = daemons.map((d) => d.stderr()).join("\n");
    for (const secret of [...secrets, vendor.state.access, ...vendor.state.live]) expect(output).not.toContain(secret);
    expect(output).not.toContain(new URL(pg.url).password);
  });
});
