#!/usr/bin/env node
import module from "node:module";

// Node ≥ 22 caches compiled modules between runs (CLI start is mostly module loading); a no-op on 20.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { systemIO } = await import("./io.js");
const { runCli } = await import("./program.js");
process.exitCode = await runCli(process.argv.slice(2), systemIO());
