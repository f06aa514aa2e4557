#!/usr/bin/env node
import module from "node:module";
import { isSignalHeld } from "../core/abort.js";

// Node ≥ 22 caches compiled modules between runs (CLI start is mostly module loading); a no-op on 20.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { InterruptedError } = await import("../core/errors.js");

// The one place stop signals are handled. A command that is in the middle of something it must
// clean up (a login: container, temp dir) holds the abort signal (src/core/abort.ts); then the
// stop aborts it and authctl ends with 130 once it has unwound. Otherwise it ends at once, 130.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) return; // already unwinding
    if (isSignalHeld(controller.signal)) return controller.abort(new InterruptedError(signal));
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
process.exitCode = await runCli(process.argv.slice(2), systemIO(), controller.signal);
