// Racing writer (test/store-postgres/lock.test.ts): imports the built store, says "ready", waits
// for "go" on stdin, then opens the PostgreSQL store (every process migrating a fresh database at
// once) and adds 1 to a counter row <count> times, each a read-then-write in store.exclusive.
// Any error goes to stderr and exits 1.
//
//   AUTHCTL_HOME=… AUTHCTL_STORE_URL=postgres://… node counter.mjs <count>
import { createInterface } from "node:readline";
import { CredentialStore } from "../../../dist/store/store.js";

const n = Number(process.argv[2]);
const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

try {
  const store = CredentialStore.open({ env: process.env, home: process.env.AUTHCTL_HOME });
  for (let i = 0; i < n; i++) {
    store.exclusive((tx) => {
      const seen = Number(tx.get("SELECT value FROM meta WHERE key = 'test_counter'")?.value ?? 0);
      tx.run("INSERT INTO meta (key, value) VALUES ('test_counter', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", String(seen + 1));
    });
  }
  store.close();
} catch (err) {
  process.stderr.write(`counter: ${err?.name}: ${err?.message}\n`);
  process.exit(1);
}
process.stdout.write(`done ${n}\n`);
