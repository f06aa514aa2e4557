// One fresh process per measurement: `node store-worker.mjs <home> <rows>` prints JSON timings.
import Database from "better-sqlite3";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Authctl, storeApiKey } from "../dist/index.js";

const [home, rowsArg, mode] = process.argv.slice(2);
const rows = Number(rowsArg);
const key = (i) => `sk-ant-bench-${String(i).padStart(8, "0")}-0123456789abcdef`;

if (mode === "raw") {
  // Baseline: the same rows into a plain WAL SQLite table, no validation and no encryption.
  const db = new Database(join(home, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (s TEXT, p TEXT, v TEXT, PRIMARY KEY (s, p)) WITHOUT ROWID");
  const insert = db.prepare("INSERT OR REPLACE INTO t VALUES (?, ?, ?)");
  const start = performance.now();
  for (let i = 0; i < rows; i++) db.transaction(() => insert.run(`s${i}`, "anthropic", key(i))).immediate();
  const putMs = performance.now() - start;
  const listStart = performance.now();
  const listed = db.prepare("SELECT s, p FROM t ORDER BY s, p").all().length;
  console.log(JSON.stringify({ putMs, listMs: performance.now() - listStart, listed }));
} else {
  const context = new Authctl({ env: {}, home });
  const store = context.store();
  const start = performance.now();
  for (let i = 0; i < rows; i++) storeApiKey("anthropic", key(i), { credentialSet: `s${i}`, context });
  const putMs = performance.now() - start;
  const listStart = performance.now();
  const listed = store.list().length;
  console.log(JSON.stringify({ putMs, listMs: performance.now() - listStart, listed }));
}
