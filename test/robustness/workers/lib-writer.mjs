// Concurrent-writer worker (test/robustness/concurrency.test.ts): imports the built library, says
// "ready", waits for "go" on stdin (so every worker hits the fresh store at the same moment), then
// stores <count> distinct API keys with storeApiKey() in a tight loop. Any error — SQLITE_BUSY
// included — goes to stderr and exits 1; the test requires exit 0 and an empty stderr.
//
//   AUTHCTL_HOME=… node lib-writer.mjs <worker> <count> <tag>
import { createInterface } from "node:readline";
import { storeApiKey } from "../../../dist/index.js";

const [worker, count, tag] = process.argv.slice(2);
const n = Number(count);

const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

try {
  for (let i = 0; i < n; i++) {
    storeApiKey("openai", `sk-${tag}-lib${worker}-${i}`, { credentialSet: `lib${worker}-${i}` });
  }
} catch (err) {
  const cause = err?.cause ? ` (cause: ${err.cause.code ?? ""} ${err.cause.stack ?? err.cause})` : "";
  process.stderr.write(`lib-writer ${worker}: ${err?.name}: ${err?.message}${cause}\n`);
  process.exit(1);
}
process.stdout.write(`done ${n}\n`);
