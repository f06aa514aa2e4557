// The daemon for `npm run bench:proxy`: `runService` (what `authctl serve` runs) with the proxy on a
// 127.0.0.1 port, in its own process started with --expose-gc so the bench can ask for its heap.
import { Authctl, runService } from "../dist/index.js";

const home = process.argv[2];
const context = new Authctl({ env: { ...process.env, AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file" }, home });
const stop = new AbortController();
process.on("message", (message) => {
  if (message === "memory") {
    globalThis.gc();
    process.send({ memory: process.memoryUsage() });
  } else if (message === "stop") stop.abort();
});
process.on("disconnect", () => stop.abort());
await runService({ context, signal: stop.signal, proxy: { port: 0 }, onListening: (_socket, { proxy }) => process.send({ proxy }) });
context.close();
process.exit(0);
