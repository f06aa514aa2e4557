#!/usr/bin/env node
import module from "node:module";

// Node ≥ 22 caches compiled modules between runs (CLI start is mostly module loading); a no-op on 20.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

// Until a login installs its own handlers (which clean up and end in exit 130), a stop signal
// just ends authctl with 130 instead of the default 128+n.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (process.listenerCount(signal) > 1) return;
    process.stderr.write("authctl: interrupted\n");
    process.exit(130);
  });
}

// `authctl creds list | head -1`: a reader that closes early is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const { systemIO } = await import("./io.js");
const { runCli } = await import("./program.js");
process.exitCode = await runCli(process.argv.slice(2), systemIO());
