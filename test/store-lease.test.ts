import { execa, type ResultPromise } from "execa";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CredentialStore } from "../src/store/store.js";
import { childEnv, REPO, tempHome } from "./helpers/env.js";

/**
 * `store.lease` across real processes. Each holder is a separate node process over the built store
 * (dist/store/store.js) that appends `enter`/`exit` lines with its name and time to one log.
 */
const HOLDER = `
import { appendFileSync } from "node:fs";
const [storeModule, home, log, name, ttl, work] = process.argv.slice(1);
const { CredentialStore } = await import(storeModule);
const store = CredentialStore.open({ env: { AUTHCTL_STORE_KEY: "file" }, home });
const note = (what) => appendFileSync(log, JSON.stringify({ name, what, at: Date.now() }) + "\\n");
note("asks");
await store.lease("refresh:work:msgraph", Number(ttl), async () => {
  note("enter");
  await new Promise((r) => setTimeout(r, Number(work)));
  note("exit");
}, { waitMs: 20_000 });
note("released");
store.close();
`;

interface Line {
  name: string;
  what: "asks" | "enter" | "exit" | "released";
  at: number;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup() {
  const t = tempHome("authctl-lease-");
  const log = join(t.home + "-lease.log");
  writeFileSync(log, "");
  // The store (and its home) exist before the holders race to open it.
  CredentialStore.open({ env: { AUTHCTL_STORE_KEY: "file" }, home: t.home }).close();
  const holders: ResultPromise[] = [];
  cleanups.push(t.cleanup, () => {
    for (const h of holders) h.kill("SIGKILL");
  });
  const holder = (name: string, ttlMs: number, workMs: number) => {
    const child = execa("node", ["--input-type=module", "-e", HOLDER, join(REPO, "dist/store/store.js"), t.home, log, name, String(ttlMs), String(workMs)], {
      env: childEnv(t.home),
      extendEnv: false,
      reject: false,
    });
    holders.push(child);
    return child;
  };
  const lines = () =>
    readFileSync(log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  const at = (name: string, what: Line["what"]) => lines().find((l) => l.name === name && l.what === what)?.at;
  const waitFor = async (name: string, what: Line["what"], timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (at(name, what) === undefined) {
      if (Date.now() > deadline) throw new Error(`${name} never logged ${what}: ${JSON.stringify(lines())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return at(name, what)!;
  };
  return { ...t, holder, lines, at, waitFor };
}

describe("store.lease (one holder per key, across processes)", () => {
  it("two processes contend: one holds it at a time, the other enters after the first released", async () => {
    const s = setup();
    const [a, b] = [s.holder("a", 30_000, 600), s.holder("b", 30_000, 600)];
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.exitCode, rb.exitCode, ra.stderr + rb.stderr]).toEqual([0, 0, ""]);
    const entries = s.lines().filter((l) => l.what === "enter" || l.what === "exit");
    expect(entries.map((l) => l.what)).toEqual(["enter", "exit", "enter", "exit"]);
    expect(entries[0]!.name).toBe(entries[1]!.name);
    expect(entries[2]!.name).toBe(entries[3]!.name);
    expect(entries[0]!.name).not.toBe(entries[2]!.name);
    expect(entries[2]!.at).toBeGreaterThanOrEqual(entries[1]!.at);
  });

  it("a SIGKILLed holder's lease is taken over at once (its pid is dead), long before its TTL", async () => {
    const s = setup();
    const a = s.holder("a", 600_000, 600_000);
    await s.waitFor("a", "enter");
    a.kill("SIGKILL");
    await a;
    const started = Date.now();
    const rb = await s.holder("b", 30_000, 10);
    expect(rb.exitCode).toBe(0);
    expect(s.at("b", "enter")).toBeDefined();
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("an expired lease of a live holder is taken over, and the late holder's release never frees the lease it lost", async () => {
    const s = setup();
    // a: a 300 ms lease held for 2 s; b takes it over on expiry and holds it 4 s; c asks while b holds it.
    const a = s.holder("a", 300, 2_000);
    await s.waitFor("a", "enter");
    const b = s.holder("b", 30_000, 4_000);
    const bEnter = await s.waitFor("b", "enter");
    expect(bEnter).toBeLessThan(s.at("a", "exit") ?? Number.POSITIVE_INFINITY);
    await s.waitFor("a", "released");
    const c = s.holder("c", 30_000, 10);
    await Promise.all([a, b, c]);
    // a released only its own lease: c entered after b left, not when a let go.
    expect(s.at("c", "enter")!).toBeGreaterThanOrEqual(s.at("b", "exit")!);
  });

  it("released exactly once, also when the work throws: the next holder enters at once", async () => {
    const t = tempHome("authctl-lease-");
    cleanups.push(t.cleanup);
    const store = CredentialStore.open({ env: { AUTHCTL_STORE_KEY: "file" }, home: t.home });
    cleanups.push(() => store.close());
    await expect(store.lease("k", 60_000, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const started = Date.now();
    expect(await store.lease("k", 60_000, async () => "second", { waitMs: 50 })).toBe("second");
    expect(Date.now() - started).toBeLessThan(1_000);
    // In one process two callers are two holders too: the second waits for the first.
    const order: string[] = [];
    const first = store.lease("k", 60_000, async () => {
      order.push("first in");
      await new Promise((r) => setTimeout(r, 200));
      order.push("first out");
    });
    const second = store.lease("k", 60_000, async () => void order.push("second in"));
    await Promise.all([first, second]);
    expect(order).toEqual(["first in", "first out", "second in"]);
  });
});
