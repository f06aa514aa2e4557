import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { PG_SCHEMA_VERSION } from "../../src/store/postgres/schema.js";
import { childEnv, REPO } from "../helpers/env.js";
import { usePostgres } from "../helpers/postgres.js";

const PROCESSES = 4;
const INCREMENTS = 50;
const WORKER = join(REPO, "test/store-postgres/workers/counter.mjs");

/** Resolves once the child printed `line`. */
function waitForLine(child: ResultPromise, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (seen.split("\n").includes(line)) resolve();
    });
    child.then((r) => reject(new Error(`worker exited (${r.exitCode}) before "${line}": ${String(r.stderr)}`)), reject);
  });
}

/**
 * The PostgreSQL store's write lock (one advisory lock per store) has BEGIN IMMEDIATE's meaning
 * across processes: racing read-then-writes lose no update, and racing first opens migrate a fresh
 * database once. Runs the built store (dist/: `npm run build` first), as a deployed authctl would.
 */
describe("the PostgreSQL store's write lock", () => {
  const postgres = usePostgres("authctl-pglock-");

  it(`${PROCESSES} processes × ${INCREMENTS} read-then-write increments on a fresh database: no update lost`, async ({ skip }) => {
    if (!postgres.cluster) return skip();
    const url = await postgres.cluster.database("lock");
    const env = childEnv(postgres.homes[0]!, { AUTHCTL_STORE_URL: url });
    const workers = Array.from({ length: PROCESSES }, () =>
      execa("node", [WORKER, String(INCREMENTS)], { env, extendEnv: false, reject: false, stdin: "pipe" }),
    );
    await Promise.all(workers.map((w) => waitForLine(w, "ready")));
    for (const w of workers) w.stdin!.end("go\n");
    const results = await Promise.all(workers);
    for (const r of results) {
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT key, value FROM meta WHERE key IN ('test_counter', 'schema_version') ORDER BY key");
      expect(rows).toEqual([
        { key: "schema_version", value: String(PG_SCHEMA_VERSION) },
        { key: "test_counter", value: String(PROCESSES * INCREMENTS) },
      ]);
    } finally {
      await client.end();
    }
  }, 120_000);
});
