import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { CommandNotStartedError, UsageError } from "../core/errors.js";
import type { Env } from "../context.js";

const runnable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * Checks that `command` can be started (on the env's PATH, or as a path) before `run` mints a
 * token or starts a service for it; the spawn itself still reports anything this misses.
 */
export function assertRunnable(command: string | undefined, env: Env): void {
  if (!command) throw new UsageError("run needs a command: authctl run [--set S] -- <command> [args…]");
  if (command.includes("/")) {
    if (!runnable(command)) throw new CommandNotStartedError(`cannot run ${JSON.stringify(command)}: no such executable file`);
    return;
  }
  const dirs = (env.PATH ?? "").split(delimiter).map((d) => d || ".");
  if (!dirs.some((dir) => runnable(join(dir, command)))) {
    throw new CommandNotStartedError(`cannot run ${JSON.stringify(command)}: command not found on PATH`);
  }
}
