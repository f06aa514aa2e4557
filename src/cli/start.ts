import { getEventListeners } from "node:events";
import { realpathSync } from "node:fs";
import module from "node:module";
import { dirname, join } from "node:path";
import { InterruptedError } from "../core/errors.js";
import { useCodeCache } from "./codeCache.js";
import type { IOStreams } from "./io.js";

/** The bin's directory (dist/bin), where the build put its code cache; undefined when not run as the bin. */
function binDir(): string | undefined {
  try {
    return process.argv[1] ? dirname(realpathSync(process.argv[1])) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The bin's work once main.ts has ruled out `--version` (and the service has not answered):
 * process-wide handlers, then the command. `io`: the streams main.ts already read from.
 */
export async function start(argv: string[], io?: IOStreams): Promise<void> {
  // Node ≥ 22 caches compiled modules between runs (CLI start is mostly module loading); a no-op on 20.
  (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  // zod compiles a parser for each object schema on its first parse (new Function), which pays off
  // from a few dozen parses; a command parses each schema once or twice, and compiling costs it
  // 2-6 ms (a login's capture: two schemas). The service runs for hours and keeps it. Set before
  // zod loads: zod takes its config from this global when it does.
  if (argv[0] !== "serve") (globalThis as { __zod_globalConfig?: object }).__zod_globalConfig ??= { jitless: true };
  // On 20, the build's own cache for what is required from here on (the command's modules).
  const bin = binDir();
  if (bin) useCodeCache(join(bin, "code-cache.bin"));

  // The one place stop signals are handled. A command that is in the middle of something it must
  // clean up (a login: container, temp dir) holds the abort signal (src/core/abort.ts); then the
  // stop aborts it and authctl ends with 130 once it has unwound. Otherwise it ends at once, 130.
  const controller = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) return; // already unwinding
      if (getEventListeners(controller.signal, "abort").length > 0) return controller.abort(new InterruptedError(signal));
      process.stderr.write("authctl: interrupted\n");
      process.exit(130);
    });
  }

  const [{ runCli }, { quietOnClosedPipe, systemIO }] = await Promise.all([import("./program.js"), import("./io.js")]);
  quietOnClosedPipe();
  process.exitCode = await runCli(argv, io ?? systemIO(), controller.signal);
}
