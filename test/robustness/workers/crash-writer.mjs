// Crash-safety worker (test/robustness/crash.test.ts): overwrites the same rows again and again
// until it is SIGKILLed. Each generation <gen>:
//   1. storeApiKey("openai", apiKeyFor(seed, gen), { credentialSet: "crash" })   then prints "k <gen>"
//   2. store.putMany([claude, codex] oauth payloads of generation gen)          then prints "o <gen>"
// stdout is a pipe, which node writes synchronously on Linux: a printed ack means committed.
//
//   AUTHCTL_HOME=… node crash-writer.mjs <seed> <startGen>
import { Authctl, maskSecret, storeApiKey } from "../../../dist/index.js";
import { apiKeyFor, oauthFor } from "./crash-payloads.mjs";

const seed = Number(process.argv[2]);
let gen = Number(process.argv[3]);
const context = new Authctl({ env: process.env });
const store = context.store();
process.stdout.write("ready\n");
try {
  for (;;) {
    storeApiKey("openai", apiKeyFor(seed, gen), { context, credentialSet: "crash" });
    process.stdout.write(`k ${gen}\n`);
    store.putMany(
      ["claude", "codex"].map((provider) => {
        const payload = oauthFor(seed, gen, provider);
        return { credentialSet: "crash", provider, kind: "oauth", payload, preview: maskSecret(payload.accessToken), expiresAt: null };
      }),
    );
    process.stdout.write(`o ${gen}\n`);
    gen++;
  }
} catch (err) {
  process.stderr.write(`crash-writer: ${err?.name}: ${err?.message}\n`);
  process.exit(1);
}
