import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa, type ResultPromise } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { authctl, childEnv, REPO, tempHome } from "../helpers/env.js";

/**
 * The store's WAL mode and busy timeout (docs/store.md): many processes writing one fresh store at the same moment — the
 * racing first open (schema migration, key-file creation, key check) included — lose nothing and
 * never surface SQLITE_BUSY.
 *
 * The 8 × 200 = 1,600 rows come from library processes (`storeApiKey` in a loop, one process per
 * worker). Alongside them, 2 CLI loops run `authctl key openai --set … --stdin` 50 times each: a
 * CLI invocation costs ~150 ms of node start-up, so 2 × 50 keeps this test's run time to seconds
 * while still interleaving whole-process open/write/close cycles with the hot loops.
 */
const LIB_WORKERS = 8;
const LIB_WRITES = 200;
const CLI_LOOPS = 2;
const CLI_WRITES = 50;
const WORKER = join(REPO, "test/robustness/workers/lib-writer.mjs");

const t = tempHome("authctl-concurrency-");
afterAll(() => t.cleanup());

/** Resolves once the child printed `line` on stdout. */
function waitForLine(child: ResultPromise, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (seen.split("\n").includes(line)) {
        child.stdout!.off("data", onData);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.then(
      (r) => reject(new Error(`worker exited (${r.exitCode}) before "${line}": ${String(r.stderr)}`)),
      reject,
    );
  });
}

describe("concurrent writers", () => {
  it(`${LIB_WORKERS} library processes × ${LIB_WRITES} writes + ${CLI_LOOPS} CLI loops × ${CLI_WRITES}: no row lost, no busy error`, async () => {
    const tag = randomBytes(4).toString("hex");
    const env = childEnv(t.home);

    const workers = Array.from({ length: LIB_WORKERS }, (_, w) =>
      execa("node", [WORKER, String(w), String(LIB_WRITES), tag], { env, extendEnv: false, reject: false, stdin: "pipe" }),
    );
    // Start everyone at once: the first open of the store (migration, key file) races too.
    await Promise.all(workers.map((w) => waitForLine(w, "ready")));
    for (const w of workers) w.stdin!.end("go\n");

    const cliLoops = Array.from({ length: CLI_LOOPS }, async (_, c) => {
      const results = [];
      for (let i = 0; i < CLI_WRITES; i++) {
        const r = await authctl(t.home, ["key", "openai", "--set", `cli${c}-${i}`, "--stdin"], { input: `sk-${tag}-cli${c}-${i}` });
        results.push({ exitCode: r.exitCode, stderr: String(r.stderr) });
      }
      return results;
    });

    const libResults = await Promise.all(workers);
    for (const [w, r] of libResults.entries()) {
      expect(r.stderr, `library worker ${w}`).toBe("");
      expect(r.exitCode, `library worker ${w}: ${String(r.stderr)}`).toBe(0);
      expect(String(r.stdout)).toContain(`done ${LIB_WRITES}`);
    }
    for (const [c, results] of (await Promise.all(cliLoops)).entries()) {
      for (const [i, r] of results.entries()) {
        expect(r.stderr, `CLI loop ${c} write ${i}`).toBe("");
        expect(r.exitCode, `CLI loop ${c} write ${i}: ${r.stderr}`).toBe(0);
      }
    }

    // Counted through the CLI, as a user would.
    const list = await authctl(t.home, ["creds", "list", "--json"]);
    expect(list.exitCode, String(list.stderr)).toBe(0);
    const rows = JSON.parse(String(list.stdout)) as Array<{ credentialSet: string; provider: string }>;
    expect(rows.filter((r) => r.credentialSet.startsWith("lib"))).toHaveLength(LIB_WORKERS * LIB_WRITES);
    expect(rows.filter((r) => r.credentialSet.startsWith("cli"))).toHaveLength(CLI_LOOPS * CLI_WRITES);
    expect(rows).toHaveLength(LIB_WORKERS * LIB_WRITES + CLI_LOOPS * CLI_WRITES);

    // Every row decrypts to exactly the key its writer stored (no torn or swapped row).
    using store = CredentialStore.open({ home: t.home, env: {} });
    for (let w = 0; w < LIB_WORKERS; w++) {
      for (let i = 0; i < LIB_WRITES; i++) {
        expect(store.get(`lib${w}-${i}`, "openai")?.payload).toEqual({ type: "api_key", key: `sk-${tag}-lib${w}-${i}` });
      }
    }
    for (let c = 0; c < CLI_LOOPS; c++) {
      for (let i = 0; i < CLI_WRITES; i++) {
        expect(store.get(`cli${c}-${i}`, "openai")?.payload).toEqual({ type: "api_key", key: `sk-${tag}-cli${c}-${i}` });
      }
    }
    expect(store.integrityCheck()).toBe("ok");
  }, 180_000);
});

describe("opening a store that another process is still creating", () => {
  it("waits for the creator (busy timeout) instead of failing with 'database is locked'", async () => {
    // Minimised from the test above, where it shows up about once in 15 runs: SQLite does not call
    // the busy handler when `PRAGMA journal_mode = WAL` upgrades its read lock on a fresh
    // (rollback-journal) file, so the loser of the first-open race fails at once. Here the
    // "other process" is a connection holding the write lock on a fresh credentials.db for 1.5 s —
    // what a racing authctl does while it switches the file to WAL and migrates it.
    const h = tempHome("authctl-creating-");
    try {
      mkdirSync(h.home, { recursive: true, mode: 0o700 });
      const creator = new Database(join(h.home, "credentials.db"));
      creator.exec("BEGIN IMMEDIATE");
      const release = new Promise<void>((resolve) =>
        setTimeout(() => {
          creator.exec("COMMIT");
          creator.close();
          resolve();
        }, 1_500),
      );
      const r = await authctl(h.home, ["key", "openai", "--set", "late", "--stdin"], { input: `sk-${randomBytes(12).toString("hex")}` });
      await release;
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      const list = JSON.parse(String((await authctl(h.home, ["creds", "list", "--json"])).stdout)) as unknown[];
      expect(list).toHaveLength(1);
    } finally {
      h.cleanup();
    }
  });
});
