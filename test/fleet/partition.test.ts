import { afterAll, describe, expect, it } from "vitest";
import { canary } from "../helpers/env.js";
import { tcpRelay, type TcpRelay } from "../helpers/postgres.js";
import { type Answer, auditOps, type FleetDaemon, proxied, useFleet } from "./harness.js";

const say = (line: string) => console.log(`[partition] ${line}`);
/** The proxy refreshes this long before expiry (src/proxy/refresh.ts): "expired" for it starts here. */
const EXPIRY_SKEW_MS = 120_000;
/** How long the login stays fresh after it is stored: time to warm every daemon's cache before it lapses. */
const FRESH_FOR_MS = 12_000;

/**
 * Issue 24's partition fault: three daemons on one PostgreSQL store, daemon C reaching the database
 * only through a relay the test cuts while the login's access token has expired. C keeps reaching
 * the vendor, and must still never refresh on its own: the refresh lease lives in the database.
 */
describe("a network partition between one daemon and PostgreSQL", () => {
  let relay: TcpRelay | undefined;
  // C's road to the database is the relay; A and B connect directly.
  const fleet = useFleet("partition", async (url, pg) => {
    relay = await tcpRelay(pg.port);
    return [url, url, url.replace(`:${pg.port}/`, `:${relay.port()}/`)];
  });
  const { homes, secrets, stored } = fleet;

  afterAll(async () => {
    await relay?.close();
  });

  const refreshesSince = (before: typeof fleet.vendor.state) => fleet.vendor.state.refreshArrivals - before.refreshArrivals;

  /**
   * One partition of C, by `how`: warm every daemon's cache, cut C off, let the access token lapse,
   * ask C (503s, no refresh), ask A and B (one refresh), ask C again, heal, ask C until it answers.
   */
  async function partition(how: "cut" | "stall", sessionId: string, askCutOff: number) {
    const { pg, vendor, seed, daemons } = fleet;
    if (!pg || !relay) throw new Error("no PostgreSQL");
    // A login the vendor takes now, whose access token lapses (for the proxy) FRESH_FOR_MS from now.
    const accessToken = canary("partition-access-");
    const refreshToken = canary("partition-refresh-");
    secrets.push(accessToken, refreshToken);
    vendor.state.access = accessToken;
    vendor.state.live.add(refreshToken);
    const lapses = Date.now() + FRESH_FOR_MS;
    const files = { ".credentials.json": JSON.stringify({ claudeAiOauth: { accessToken, refreshToken, expiresAt: lapses + EXPIRY_SKEW_MS } }) };
    seed.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files, accessToken, refreshToken }, { preview: "partition…", expiresAt: new Date(lapses + EXPIRY_SKEW_MS) });
    const phantom = fleet.phantomFor(sessionId);
    const before = { ...vendor.state };
    const refreshedBefore = auditOps(homes, "refreshed");
    const [a, b, c] = daemons as [FleetDaemon, FleetDaemon, FleetDaemon];

    // Every daemon has read the login and its phantom (C's cache holds the old refresh token).
    const warm = await Promise.all(daemons.map((d) => proxied(d.url, phantom)));
    expect(warm.map((w) => w.status), warm.map((w) => w.body).join("\n")).toEqual([200, 200, 200]);
    expect(Date.now(), "warming took longer than the login stayed fresh (machine too loaded)").toBeLessThan(lapses);
    expect(refreshesSince(before)).toBe(0);

    if (how === "cut") await relay.cut();
    else await relay.stall();
    while (Date.now() < lapses + 500) await new Promise((r) => setTimeout(r, 100));

    // Partitioned, token expired: C refuses, naming the database; the token endpoint hears nothing.
    // The first refusal may wait for one store timeout (a stalled connection); from then on C knows
    // the database is unreachable and refuses at once, until its background probe gets an answer.
    const asked = performance.now();
    const first = await proxied(c.url, phantom, 60_000);
    const firstMs = first.at - asked;
    // Past the background probe's connect timeout (3 s): a stalled probe that gave up must still keep C refusing at once.
    await new Promise((r) => setTimeout(r, 3_500));
    const askedAgain = performance.now();
    const later = await Promise.all(Array.from({ length: askCutOff }, () => proxied(c.url, phantom, 60_000)));
    const slowest = Math.max(...later.map((x) => x.at - askedAgain));
    const cutOff = [first, ...later];
    expect(cutOff.map((x) => x.status), cutOff.map((x) => x.body).join("\n")).toEqual(Array(askCutOff + 1).fill(503));
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
    const askedLast = performance.now();
    const stillCut = await proxied(c.url, phantom, 60_000);
    const stillCutMs = stillCut.at - askedLast;
    expect(stillCut.status, stillCut.body).toBe(503);
    expect(refreshesSince(before)).toBe(1);

    // Healed, with no restart: C answers 200 again, upstream took the rotated token, the old refresh token unspent by C.
    const acceptedBeforeHeal = await relay.accepted();
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
      `${how}: C cut off: ${cutOff.length + 1}/${cutOff.length + 1} requests answered 503 naming the database (the first after ${firstMs.toFixed(0)} ms, the next ${askCutOff} together within ${slowest.toFixed(0)} ms, one more later after ${stillCutMs.toFixed(0)} ms); A and B: ${rest.filter((x) => x.status === 200).length}/${rest.length} answered 200; ` +
        `token endpoint: ${refreshesSince(before)} refresh call(s), ${vendor.state.spends - before.spends} spend(s), ${vendor.state.reused - before.reused} reused; ` +
        `healed: C answered 200 after ${healedAfter.toFixed(0)} ms (${during.length} request(s), statuses ${[...new Set(during.map((x) => x.status))].join("/")}), ${(await relay.accepted()) - acceptedBeforeHeal} new connection(s) through the relay`,
    );
    say(`${how}: a 503 while cut off: ${cutOff[0]!.body.slice(0, 300)}`);
    expect(during.at(-1)!.status, `${during.at(-1)!.body}\n${c.stderr().slice(-600)}`).toBe(200);
    // One store timeout at most, then refusals at once; answering again soon after the heal.
    expect(firstMs).toBeLessThan(12_000);
    expect(slowest, "a refusal after the first waited for the database").toBeLessThan(1_000);
    expect(stillCutMs, "a refusal after the first waited for the database").toBeLessThan(1_000);
    expect(healedAfter).toBeLessThan(2_000);
    expect(during.map((x) => x.status).filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(vendor.state.access).toBe(rotated);
    expect(refreshesSince(before)).toBe(1);
    expect(vendor.state.spends - before.spends).toBe(1);
    expect(vendor.state.reused - before.reused).toBe(0);
    expect(auditOps([c.home], "refreshed")).toBe(0);
    expect(auditOps(homes, "refreshed") - refreshedBefore).toBe(1);
    expect(await relay.accepted()).toBeGreaterThan(acceptedBeforeHeal);
  }

  it("cut (connections reset, connects refused): the cut-off daemon answers 503 naming the database and never calls the token endpoint; the others refresh once; healed, it answers with the rotated token", async ({ skip }) => {
    if (!fleet.pg) return skip();
    await partition("cut", "partition-cut", 4);
  }, 150_000);

  it("stalled (no FIN, nothing answers): the same; one refusal may wait for the store's timeout, the next come at once, and it answers again within 2 s of the heal", async ({ skip }) => {
    if (!fleet.pg) return skip();
    await partition("stall", "partition-stall", 4);
  }, 150_000);

  it("no daemon wrote a token or the database password to its output", ({ skip }) => {
    if (!fleet.pg) return skip();
    fleet.expectNoLeaks();
  });
});
