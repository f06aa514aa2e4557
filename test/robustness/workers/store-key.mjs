// Stores one API key through the library, the key read from stdin (never argv: `ps` would show it).
//
//   AUTHCTL_HOME=… node store-key.mjs <provider> <set>  < key
import { storeApiKey } from "../../../dist/index.js";

const [provider, credentialSet] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const key = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
try {
  const summary = storeApiKey(provider, key, { credentialSet });
  process.stdout.write(JSON.stringify(summary) + "\n");
} catch (err) {
  process.stderr.write(`store-key: ${err?.name}: ${err?.message}\n`);
  process.exit(1);
}
