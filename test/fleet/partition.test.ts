import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, tempHome } from "../helpers/env.js";
import { startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { type Answer, auditOps, copyKeyFile, fakeOAuthVendor, fleetEnv, type FleetDaemon, proxied, routeClaudeTo, startFleetDaemon } from "./harness.js";

const say = (line: string) => console.log(`[partition] ${line}`);
/** The proxy refreshes this long before expiry (src/proxy/refresh.ts): "expired" for it starts here. */
const EXPIRY_SKEW_MS = 120_000;
/** How long the login stays fresh after it is stored: time to warm every daemon's cache before it lapses. */
const FRESH_FOR_MS = 12_000;

/**
 * The only road from one host to PostgreSQL: a TCP forwarder the test can cut (every connection
 * destroyed, nothing listening, so a connect is refused), stall (a partition that sends no FIN or
 * RST: open connections carry nothing more, a new one is accepted and never answered) and heal
 * (forwarding again on the same port; stalled connections reset, as a peer that lost their state).
 */
async function tcpRelay(targetPort: number) {
  const pairs = new Set<[Socket, Socket | undefined]>();
  let server: Server | undefined;
  let port = 0;
  let accepted = 0;
  let stalled = false;
  const stall = ([client, upstream]: [Socket, Socket | undefined]) => {
    client.unpipe();
    upstream?.unpipe();
    client.pause();
    upstream?.pause();
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        accepted++;
        const pair: [Socket, Socket | undefined] = [client, stalled ? undefined : connect(targetPort, "127.0.0.1")];
        pairs.add(pair);
        for (const socket of pair) {
          socket?.on("close", () => pairs.delete(pair));
          socket?.on("error", () => pair.forEach((x) => x?.destroy()));
        }
        if (pair[1]) client.pipe(pair[1]).pipe(client);
        else stall(pair);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const destroyAll = () => {
    for (const pair of pairs) pair.forEach((x) => x?.destroy());
    pairs.clear();
  };
  await listen();
  return {
    port: () => port,
    accepted: () => accepted,
    async cut() {
      const s = server;
      server = undefined;
      const closed = new Promise((r) => (s ? s.close(r) : r(undefined)));
      destroyAll();
      await closed;
    },
    stall() {
      stalled = true;
      pairs.forEach(stall);
    },
    async heal() {
      if (stalled) destroyAll();
      stalled = false;
      if (!server) await listen();
    },
  };
}

/**
 * Issue 24's partition fault: three daemons on one PostgreSQL store, daemon C reaching the database
 * only through a relay the test cuts while the login's access token has expired. C keeps reaching
 * the vendor, and must still never refresh on its own: the refresh lease lives in the database.
 */
describe("a network partition between one daemon and PostgreSQL", () => {
  const dirs = ["a", "b", "c"].map((name) => tempHome(`authctl-partition-${name}-`));
  const homes = dirs.map((d) => d.home);
  let pg: PostgresCluster | undefined;
  let url: string;
  let relay: Awaited<ReturnType<typeof tcpRelay>>;
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
    url = await pg.database("partition");
    relay = await tcpRelay(pg.port);
    const env = fleetEnv(homes[0]!, url);
    seed = CredentialStore.open({ home: homes[0]!, env });
    context = new Authctl({ env, home: homes[0]!, store: seed });
    // The first write makes the store key the other hosts copy; the test stores the login it uses later.
    const placeholder = vendor.expiredLogin();
    secrets.push(placeholder.payload.accessToken, placeholder.payload.refreshToken);
    seed.put("default", "claude", "oauth", placeholder.payload, { preview: "partition…", expiresAt: placeholder.expiresAt });
    for (const home of homes.slice(1)) copyKeyFile(homes[0]!, home);
    const urls = [url, url, url.replace(`:${pg.port}/`, `:${relay.port()}/`)];
    daemons = await Promise.all(homes.map((home, i) => startFleetDaemon("abc"[i]!, home, fleetEnv(home, urls[i]!))));
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => undefined)));
    seed?.close();
    await relay?.cut();
    await vendor?.close();
    await pg?.stop();
    for (const d of dirs) d.cleanup();
  });

  const stored = () => seed.get<{ accessToken: string; refreshToken: string }>("default", "claude")!.payload;
  const refreshesSince = (before: typeof vendor.state) => vendor.state.refreshArrivals - before.refreshArrivals;

  /**
   * One partition of C, by `how`: warm every daemon's cache, cut C off, let the access token lapse,
   * ask C (503s, no refresh), ask A and B (one refresh), ask C again, heal, ask C until it answers.
   */
  async function partition(how: "cut" | "stall", sessionId: string, askCutOff: number) {
    if (!pg) throw new Error("no PostgreSQL");
    // A login the vendor takes now, whose access token lapses (for the proxy) FRESH_FOR_MS from now.
    const accessToken = canary("partition-access-");
    const refreshToken = canary("partition-refresh-");
    secrets.push(accessToken, refreshToken);
    vendor.state.access = accessToken;
    vendor.state.live.add(refreshToken);
    const lapses = Date.now() + FRESH_FOR_MS;
    const files = { ".credentials.json": JSON.stringify({ claudeAiOauth: { accessToken, refreshToken, expiresAt: lapses + EXPIRY_SKEW_MS } }) };
    seed.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files, accessToken, refreshToken }, { preview: "partition…", expiresAt: new Date(lapses + EXPIRY_SKEW_MS) });
    const phantom = mintPhantoms("claude", { context, sessionId }).accessToken;
    const before = { ...vendor.state };
    const refreshedBefore = auditOps(homes, "refreshed");
    const [a, b, c] = daemons as [FleetDaemon, FleetDaemon, FleetDaemon];

    // Every daemon has read the login and its phantom (C's cache holds the old refresh token).
    const warm = await Promise.all(daemons.map((d) => proxied(d.url, phantom)));
    expect(warm.map((w) => w.status), warm.map((w) => w.body).join("\n")).toEqual([200, 200, 200]);
    expect(Date.now(), "warming took longer than the login stayed fresh (machine too loaded)").toBeLessThan(lapses);
    expect(refreshesSince(before)).toBe(0);

    if (how === "cut") await relay.cut();
    else relay.stall();
    while (Date.now() < lapses + 500) await new Promise((r) => setTimeout(r, 100));

    // Partitioned, token expired: C refuses, naming the database; the token endpoint hears nothing.
    // C answers one request at a time while its store call waits (a stalled one up to its timeout).
    const asked = performance.now();
    const cutOff = await Promise.all(Array.from({ length: askCutOff }, () => proxied(c.url, phantom, 60_000)));
    const slowest = Math.max(...cutOff.map((x) => x.at - asked));
    expect(cutOff.map((x) => x.status), cutOff.map((x) => x.body).join("\n")).toEqual(Array(askCutOff).fill(503));
    for (const answer of cutOff) {
      // Reset or silent, a partition reads the same: the database cannot be reached, and what to check.
      expect(answer.body).toMatch(new RegExp(`PostgreSQL store 127\\.0\\.0\\.1:${relay.port()}/\\S+ cannot be reached .*check that PostgreSQL is running`));
      expect(answer.body).not.toContain(new URL(pg.url).password);
    }
    expect(refreshesSince(before), "the cut-off daemon called the token endpoint").toBe(0);

    // The rest of the fleet goes on: A and B answer, one of them refreshes, once.
    const rest = await Promise.all(Array.from({ length: 10 }, (_, i) => proxied((i % 2 ? b : a).url, phantom)));
    expect(rest.map((x) => x.status), rest.map((x) => x.body).join("\n")).toEqual(Array(10).fill(200));
    expect(refreshesSince(before)).toBe(1);
    const rotated = vendor.state.access;
    expect(stored().accessToken).toBe(rotated);

    // Still cut off, now with a rotated row it cannot see: still 503, still no refresh of its own.
    const stillCut = await proxied(c.url, phantom, 60_000);
    expect(stillCut.status, stillCut.body).toBe(503);
    expect(refreshesSince(before)).toBe(1);

    // Healed, with no restart: C answers 200 again, upstream took the rotated token, the old refresh token unspent by C.
    const acceptedBeforeHeal = relay.accepted();
    await relay.heal();
    const healedAt = performance.now();
    const during: Answer[] = [];
    for (;;) {
      const answer = await proxied(c.url, phantom, 60_000);
      during.push(answer);
      if (answer.status === 200 || performance.now() - healedAt > 60_000) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const healedAfter = during.at(-1)!.at - healedAt;
    say(
      `${how}: C cut off: ${cutOff.length + 1}/${cutOff.length + 1} requests answered 503 naming the database (the first ${askCutOff} within ${slowest.toFixed(0)} ms); A and B: ${rest.filter((x) => x.status === 200).length}/${rest.length} answered 200; ` +
        `token endpoint: ${refreshesSince(before)} refresh call(s), ${vendor.state.spends - before.spends} spend(s), ${vendor.state.reused - before.reused} reused; ` +
        `healed: C answered 200 after ${healedAfter.toFixed(0)} ms (${during.length} request(s), statuses ${[...new Set(during.map((x) => x.status))].join("/")}), ${relay.accepted() - acceptedBeforeHeal} new connection(s) through the relay`,
    );
    say(`${how}: a 503 while cut off: ${cutOff[0]!.body.slice(0, 300)}`);
    expect(during.at(-1)!.status, `${during.at(-1)!.body}\n${c.stderr().slice(-600)}`).toBe(200);
    expect(during.map((x) => x.status).filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(vendor.state.access).toBe(rotated);
    expect(refreshesSince(before)).toBe(1);
    expect(vendor.state.spends - before.spends).toBe(1);
    expect(vendor.state.reused - before.reused).toBe(0);
    expect(auditOps([c.home], "refreshed")).toBe(0);
    expect(auditOps(homes, "refreshed") - refreshedBefore).toBe(1);
    expect(relay.accepted()).toBeGreaterThan(acceptedBeforeHeal);
  }

  it("cut (connections reset, connects refused): the cut-off daemon answers 503 naming the database and never calls the token endpoint; the others refresh once; healed, it answers with the rotated token", async ({ skip }) => {
    if (!pg) return skip();
    await partition("cut", "partition-cut", 5);
  }, 150_000);

  it("stalled (no FIN, nothing answers): the same, each refusal after the store's timeout instead of at once", async ({ skip }) => {
    if (!pg) return skip();
    await partition("stall", "partition-stall", 2);
  }, 240_000);

  it("no daemon wrote a token or the database password to its output", ({ skip }) => {
    if (!pg) return skip();
    const output = daemons.map((d) => d.stderr()).join("\n");
    for (const secret of [...secrets, vendor.state.access, ...vendor.state.live]) expect(output).not.toContain(secret);
    expect(output).not.toContain(new URL(pg.url).password);
  });
});
