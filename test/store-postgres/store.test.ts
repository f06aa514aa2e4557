import { copyFileSync, mkdirSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Authctl } from "../../src/context.js";
import { StoreError } from "../../src/core/errors.js";
import { mintPhantoms, revokeSession, verifyPhantom } from "../../src/proxy/phantoms.js";
import { PG_SCHEMA_VERSION } from "../../src/store/postgres/schema.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, tempHome, testEnv } from "../helpers/env.js";
import { startPostgres, tcpRelay, type PostgresCluster } from "../helpers/postgres.js";

/**
 * The PostgreSQL store backend (issue 24) against a real cluster this file starts: each test has
 * its own database, and two stores on one URL stand for two hosts of a fleet (two homes sharing a
 * key file, as `docs/fleet.md` says to set them up).
 */
describe("the PostgreSQL store", () => {
  let cluster: PostgresCluster | undefined;
  const dirs: Array<{ cleanup: () => void }> = [];
  const stores: CredentialStore[] = [];

  beforeAll(async () => {
    cluster = await startPostgres();
  }, 60_000);

  afterAll(async () => {
    for (const s of stores) s.close();
    await cluster?.stop();
    for (const d of dirs) d.cleanup();
  });

  const password = () => new URL(cluster!.url).password;

  /** A home of its own (a host), optionally given another home's key file (the fleet's one key). */
  function openStore(url: string, keyFrom?: CredentialStore): CredentialStore {
    const dir = tempHome("authctl-pgstore-");
    dirs.push(dir);
    if (keyFrom) {
      mkdirSync(dir.home, { recursive: true, mode: 0o700 });
      copyFileSync(join(keyFrom.home, "store.key"), join(dir.home, "store.key"));
    }
    const store = CredentialStore.open({ home: dir.home, env: { ...testEnv(), AUTHCTL_STORE_URL: url } });
    stores.push(store);
    return store;
  }

  async function sql<T>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  /** `fn`'s first result once it stops throwing (the database answers again), and how long that took. */
  async function onceItAnswers<T>(fn: () => T, giveUpMs = 10_000): Promise<{ value: T; ms: number }> {
    const started = performance.now();
    for (;;) {
      try {
        return { value: fn(), ms: performance.now() - started };
      } catch (err) {
        if (performance.now() - started > giveUpMs) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** The StoreError `fn` throws: one line, naming the database and never its password. */
  function storeErrorOf(fn: () => unknown): StoreError {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    const message = (caught as Error).message;
    expect(message).not.toContain("\n");
    expect(message).not.toContain(password());
    return caught as StoreError;
  }

  it("round trip: put, get, info, list, remove; the database holds only ciphertext", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("roundtrip");
    const store = openStore(url);
    expect(store.path).toBe(`PostgreSQL store 127.0.0.1:${cluster.port}/roundtrip`);
    const key = canary("sk-proj-");
    const expiresAt = new Date(Date.now() + 3_600_000);
    store.put("default", "openai", "api_key", { apiKey: key }, { preview: "sk-proj-…", expiresAt });
    store.put("work", "anthropic", "api_key", { apiKey: canary("sk-ant-") }, { preview: "sk-ant-…" });
    expect(store.get<{ apiKey: string }>("default", "openai")?.payload.apiKey).toBe(key);
    expect(store.info("default", "openai")).toMatchObject({ kind: "api_key", preview: "sk-proj-…", expiresAt });
    expect(store.list().map((c) => `${c.credentialSet}:${c.provider}`)).toEqual(["default:openai", "work:anthropic"]);
    expect(store.list({ credentialSet: "work" })).toHaveLength(1);

    const rows = await sql<Record<string, unknown>>(url, "SELECT * FROM credentials");
    expect(rows).toHaveLength(2);
    const dump = JSON.stringify(rows) + rows.map((r) => Buffer.from(r.ciphertext as Buffer).toString("latin1")).join("");
    expect(dump).not.toContain(key);
    expect(typeof rows[0]!.created_at).toBe("string"); // BIGINT as stored; the store reads it back as a number
    expect(store.info("default", "openai")!.createdAt).toBeInstanceOf(Date);

    expect(store.remove("default", "openai")).toBe(true);
    expect(store.remove("default", "openai")).toBe(false);
    expect(store.get("default", "openai")).toBeUndefined();
    expect(store.list()).toHaveLength(1);
  });

  it("two stores on one URL (two hosts): a write in one reaches the other's cached read, a revoked phantom is refused there", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("twohosts");
    const a = openStore(url);
    a.put("default", "anthropic", "api_key", { apiKey: "first" }, { preview: "f…" });
    const b = openStore(url, a);
    expect(b.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe("first");
    expect(b.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe("first"); // now cached in b

    const before = Date.now();
    a.put("default", "anthropic", "api_key", { apiKey: "second" }, { preview: "s…" });
    await vi.waitFor(() => expect(b.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe("second"), { timeout: 1_000, interval: 5 });
    console.log(`[pg store] a write on one store reached the other's cached read in ${Date.now() - before} ms`);

    const contextA = new Authctl({ env: testEnv(), home: a.home, store: a });
    const contextB = new Authctl({ env: testEnv(), home: b.home, store: b });
    const { accessToken } = mintPhantoms("anthropic", { context: contextA, sessionId: "box-1" });
    expect(verifyPhantom(accessToken, { context: contextB })?.sessionId).toBe("box-1");
    const seen = b.generation();
    expect(b.generation()).toBe(seen); // steady: a cached phantom would be trusted
    const revokedAt = Date.now();
    expect(revokeSession("box-1", { context: contextA })).toBe(2);
    await vi.waitFor(() => expect(b.generation()).not.toBe(seen), { timeout: 1_000, interval: 2 });
    console.log(`[pg store] a revoke on one store changed the other's generation in ${Date.now() - revokedAt} ms`);
    expect(verifyPhantom(accessToken, { context: contextB })).toBeUndefined();
  });

  it("a listener cut off by the server: nothing cached is trusted meanwhile, then it listens again", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("listener");
    const a = openStore(url);
    a.put("default", "anthropic", "api_key", { apiKey: "first" }, { preview: "f…" });
    const b = openStore(url, a);
    await vi.waitFor(() => expect(b.generation()).toBe(b.generation()));
    const steady = b.generation();
    const cut = await sql<{ cut: boolean }>(url, "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = $1 AND application_name = 'authctl-listener'", ["listener"]);
    expect(cut.length).toBeGreaterThanOrEqual(2); // a's and b's listeners
    await vi.waitFor(() => expect(b.generation()).not.toBe(steady), { timeout: 1_000, interval: 2 });
    await vi.waitFor(() => expect(b.generation()).toBe(b.generation()), { timeout: 5_000 });
    expect(b.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe("first");
    a.put("default", "anthropic", "api_key", { apiKey: "second" }, { preview: "s…" });
    await vi.waitFor(() => expect(b.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe("second"), { timeout: 1_000, interval: 5 });
  });

  it("the lease has one holder at a time across two stores", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("lease");
    const a = openStore(url);
    const b = openStore(url);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const first = a.lease("refresh:default:claude", 30_000, async () => {
      order.push("a in");
      await held;
      order.push("a out");
    });
    await vi.waitFor(() => expect(order).toEqual(["a in"]));
    await expect(b.lease("refresh:default:claude", 30_000, async () => void order.push("b in"), { waitMs: 300 })).rejects.toThrow(
      /still holds the lease "refresh:default:claude"/,
    );
    const second = b.lease("refresh:default:claude", 30_000, async () => void order.push("b in"), { waitMs: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["a in", "a out", "b in"]);
  });

  it("an unreachable URL or another scheme is one clear line, never the password", async ({ skip }) => {
    if (!cluster) return skip();
    const { home, cleanup } = tempHome();
    dirs.push({ cleanup });
    const secret = canary("pw");
    const open = (url: string) => () => CredentialStore.open({ home, env: { ...testEnv(), AUTHCTL_STORE_URL: url } });
    const refused = storeErrorOf(open(`postgres://fleet:${secret}@127.0.0.1:9/nowhere`));
    expect(refused.message).toMatch(/^PostgreSQL store 127\.0\.0\.1:9\/nowhere cannot be reached \(ECONNREFUSED/);
    expect(refused.message).not.toContain(secret);
    const wrongPassword = storeErrorOf(open(cluster.url.replace(password(), secret)));
    expect(wrongPassword.message).toMatch(new RegExp(`^PostgreSQL store 127\\.0\\.0\\.1:${cluster.port}/postgres refused the login \\(28P01`));
    expect(wrongPassword.message).not.toContain(secret);
    const mysql = storeErrorOf(open(`mysql://root:${secret}@db/authctl`));
    expect(mysql.message).toMatch(/^AUTHCTL_STORE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(mysql.message).not.toContain(secret);
  });

  it("calls give up instead of hanging: a server that never answers, a write lock held elsewhere", async ({ skip }) => {
    if (!cluster) return skip();
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    const { home, cleanup } = tempHome();
    dirs.push({ cleanup });
    try {
      const started = Date.now();
      const err = storeErrorOf(() => CredentialStore.open({ home, env: { ...testEnv(), AUTHCTL_STORE_URL: `postgres://fleet:${canary()}@127.0.0.1:${port}/mute` } }));
      expect(err.message).toMatch(new RegExp(`^PostgreSQL store 127\\.0\\.0\\.1:${port}/mute cannot be reached`));
      expect(Date.now() - started).toBeLessThan(11_000);
      console.log(`[pg store] a server that never answers: refused after ${Date.now() - started} ms`);
    } finally {
      silent.close();
    }

    const url = await cluster.database("locked");
    const store = openStore(url);
    const context = new Authctl({ env: testEnv(), home: store.home, store });
    const { accessToken } = mintPhantoms("anthropic", { context, sessionId: "box-locked" });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [0x61757468]);
      const started = Date.now();
      const err = storeErrorOf(() => store.put("default", "openai", "api_key", { apiKey: "x" }, { preview: "x…" }));
      expect(err.message).toMatch(/write lock was not granted in time/);
      expect(Date.now() - started).toBeLessThan(11_000);
      console.log(`[pg store] the write lock held elsewhere: refused after ${Date.now() - started} ms`);
      expect(store.list()).toEqual([]); // reads never wait for the lock
      // Nor does the proxy's phantom lookup: the lock is the whole fleet's, a lookup must not queue behind its writers.
      const lookup = Date.now();
      expect(verifyPhantom(accessToken, { context })?.sessionId).toBe("box-locked");
      expect(Date.now() - lookup).toBeLessThan(2_000);
    } finally {
      await holder.end();
    }
    store.put("default", "openai", "api_key", { apiKey: "x" }, { preview: "x…" });
    expect(store.list()).toHaveLength(1);
  });

  it("a store written by a newer authctl is refused", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("newer");
    openStore(url).close();
    await sql(url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    const { home, cleanup } = tempHome();
    dirs.push({ cleanup });
    const err = storeErrorOf(() => CredentialStore.open({ home, env: { ...testEnv(), AUTHCTL_STORE_URL: url } }));
    expect(err.message).toMatch(new RegExp(`has schema version 99, newer than this authctl understands \\(${PG_SCHEMA_VERSION}\\): upgrade authctl`));
  });

  it("PostgreSQL restarting: calls fail naming the database, then the same store object works again", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("restart");
    const store = openStore(url);
    store.put("default", "openai", "api_key", { apiKey: "kept" }, { preview: "k…" });
    await vi.waitFor(() => expect(store.generation()).toBe(store.generation()));
    await cluster.halt();
    try {
      const down = storeErrorOf(() => store.list());
      expect(down.message).toMatch(new RegExp(`^PostgreSQL store 127\\.0\\.0\\.1:${cluster.port}/restart cannot be reached`));
      storeErrorOf(() => store.put("default", "anthropic", "api_key", { apiKey: "lost" }, { preview: "l…" }));
      // The listener is down: nothing cached may be trusted, so a cached read goes to the database (and fails).
      expect(store.generation()).not.toBe(store.generation());
      storeErrorOf(() => store.get("default", "openai"));
    } finally {
      await cluster.start();
    }
    // Refused at once until the store's background probe finds the database again.
    const { value: kept, ms } = await onceItAnswers(() => store.get<{ apiKey: string }>("default", "openai")?.payload.apiKey);
    console.log(`[pg store] restarted: calls went through ${ms.toFixed(0)} ms after the database was back`);
    expect(kept).toBe("kept");
    expect(ms).toBeLessThan(2_000);
    store.put("default", "anthropic", "api_key", { apiKey: "after" }, { preview: "a…" });
    expect(store.list().map((c) => c.provider)).toEqual(["anthropic", "openai"]);
    await vi.waitFor(() => expect(store.generation()).toBe(store.generation()), { timeout: 5_000 });
  });

  /**
   * A store reaching database `name` through a relay that is then stalled (no FIN, nothing answers),
   * after one read and a live listener; `writer` reaches the database directly, with the same key.
   */
  async function stalledStore(on: PostgresCluster, name: string) {
    const url = await on.database(name);
    const relay = await tcpRelay(on.port);
    try {
      const writer = openStore(url);
      writer.put("default", "openai", "api_key", { apiKey: "before" }, { preview: "b…" });
      const cutOff = openStore(url.replace(`:${on.port}/`, `:${relay.port()}/`), writer);
      expect(cutOff.get<{ apiKey: string }>("default", "openai")?.payload.apiKey).toBe("before");
      await vi.waitFor(() => expect(cutOff.generation()).toBe(cutOff.generation()), { timeout: 5_000 });
      await relay.stall();
      return { relay, writer, cutOff };
    } catch (err) {
      await relay.close();
      throw err;
    }
  }

  it("a silent partition costs one timeout: later calls are refused at once, nothing cached is served, and a write missed meanwhile is read after the heal", async ({ skip }) => {
    if (!cluster) return skip();
    const { relay, writer, cutOff } = await stalledStore(cluster, "silent");
    try {
      const timed = (fn: () => unknown) => {
        const started = performance.now();
        const err = storeErrorOf(fn);
        expect(err.message).toMatch(new RegExp(`^PostgreSQL store 127\\.0\\.0\\.1:${relay.port()}/silent cannot be reached`));
        return performance.now() - started;
      };
      const first = timed(() => cutOff.list());
      // Written elsewhere while cut off: its notification never reaches the cut-off store.
      writer.put("default", "openai", "api_key", { apiKey: "during" }, { preview: "d…" });
      const later = [timed(() => cutOff.list()), timed(() => cutOff.get("default", "openai")), timed(() => cutOff.put("default", "anthropic", "api_key", { apiKey: "x" }, { preview: "x…" }))];
      await relay.heal();
      const { value: after, ms: recovered } = await onceItAnswers(() => cutOff.get<{ apiKey: string }>("default", "openai")?.payload.apiKey);
      console.log(`[pg store] silent partition: first call refused after ${first.toFixed(0)} ms, the next ${later.map((t) => t.toFixed(0)).join(", ")} ms; calls went through ${recovered.toFixed(0)} ms after the heal`);
      expect(first).toBeLessThan(11_000);
      for (const t of later) expect(t).toBeLessThan(500);
      expect(recovered).toBeLessThan(2_000);
      expect(after).toBe("during");
      expect(cutOff.list().map((c) => c.provider)).toEqual(["openai"]);
    } finally {
      await relay.close();
    }
  }, 60_000);

  it("a silent partition that outlasts the background probe's connect timeout: calls are still refused at once, never sent to wait for a connection", async ({ skip }) => {
    if (!cluster) return skip();
    const { relay, cutOff } = await stalledStore(cluster, "outlasted");
    try {
      storeErrorOf(() => cutOff.list());
      // Probes into a stalled connection each end at the connect timeout (3 s): ask across two of them.
      const refusals: number[] = [];
      for (const started = performance.now(); performance.now() - started < 7_000; ) {
        const asked = performance.now();
        const err = storeErrorOf(() => (refusals.length % 2 ? cutOff.put("default", "anthropic", "api_key", { apiKey: "x" }, { preview: "x…" }) : cutOff.list()));
        expect(err.message).toMatch(new RegExp(`^PostgreSQL store 127\\.0\\.0\\.1:${relay.port()}/outlasted cannot be reached`));
        refusals.push(performance.now() - asked);
        await new Promise((r) => setTimeout(r, 200));
      }
      await relay.heal();
      const { value: after, ms: recovered } = await onceItAnswers(() => cutOff.get<{ apiKey: string }>("default", "openai")?.payload.apiKey);
      console.log(`[pg store] outlasted probe: ${refusals.length} refusals, the slowest ${Math.max(...refusals).toFixed(0)} ms; calls went through ${recovered.toFixed(0)} ms after the heal`);
      expect(Math.max(...refusals), "a refusal waited for a connection to the stalled database").toBeLessThan(500);
      expect(recovered).toBeLessThan(2_000);
      expect(after).toBe("before");
    } finally {
      await relay.close();
    }
  }, 60_000);

  it("a worker thread that ends on its own is replaced at the next call; the store goes on", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("worker");
    const store = openStore(url);
    store.put("default", "openai", "api_key", { apiKey: "kept" }, { preview: "k…" });
    const before = store.generation();
    // The thread itself, as a crash in it would leave it: ended, with the store not told.
    const thread = (store as unknown as { backend: { thread: { worker: { terminate(): Promise<number> } } } }).backend.thread;
    await thread.worker.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.generation()).not.toBe(before);
    expect(store.get<{ apiKey: string }>("default", "openai")?.payload.apiKey).toBe("kept");
    store.put("default", "anthropic", "api_key", { apiKey: "new" }, { preview: "n…" });
    expect(store.list()).toHaveLength(2);
    await vi.waitFor(() => expect(store.generation()).toBe(store.generation()), { timeout: 5_000 });
  });

  it("each home keeps its own audit checkpoint row: one host's checkpoint never overwrites another's", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("audit");
    const a = openStore(url);
    a.put("default", "openai", "api_key", { apiKey: "x" }, { preview: "x…" });
    const b = openStore(url, a);
    a.audit("stored", "default", "openai", "api_key");
    b.audit("removed", "default", "openai", "api_key");
    const [homeA, homeB] = [a.home, b.home];
    a.close();
    b.close();
    const keys = (await sql<{ key: string }>(url, "SELECT key FROM meta WHERE key LIKE 'audit_checkpoint%' ORDER BY key")).map((r) => r.key);
    expect(keys).toHaveLength(2);
    expect(keys).toEqual(expect.arrayContaining([expect.stringContaining(homeA), expect.stringContaining(homeB)]));
    const reopened = (home: string) => {
      const store = CredentialStore.open({ home, env: { ...testEnv(), AUTHCTL_STORE_URL: url } });
      stores.push(store);
      return store.lastAuditCheckpoint();
    };
    const [checkA, checkB] = [reopened(homeA), reopened(homeB)];
    expect(checkA).toMatch(/"type":"checkpoint"/);
    expect(checkB).toMatch(/"type":"checkpoint"/);
    expect(checkA).not.toBe(checkB);
  });

  it("sealed rows move between SQLite and PostgreSQL as they are, and open there with the same key", async ({ skip }) => {
    if (!cluster) return skip();
    const url = await cluster.database("sealed");
    const dir = tempHome();
    dirs.push(dir);
    const key = canary("sk-ant-");
    const sqlite = CredentialStore.open({ home: dir.home, env: testEnv() });
    stores.push(sqlite);
    sqlite.put("default", "anthropic", "api_key", { apiKey: key }, { preview: "sk-ant-…" });
    const exported = sqlite.sealedRows();
    const target = openStore(url, sqlite);
    target.importSealed(exported.rows, exported.meta);
    target.importSealed(exported.rows, exported.meta);
    expect(target.get<{ apiKey: string }>("default", "anthropic")?.payload.apiKey).toBe(key);
    expect(target.sealedRows()).toEqual(exported);
    const other = openStore(await cluster.database("otherkey"));
    other.put("default", "openai", "api_key", { apiKey: "x" }, { preview: "x…" });
    expect(() => other.importSealed(exported.rows, exported.meta)).toThrow(/already has another store key/);
  });
});
