import { execa } from "execa";
import { childEnv, CLI } from "./env.js";

/** `authctl serve` (the built bin) in the foreground for `home`; never rejects, so tests assert on its exit code. */
export function foregroundServe(home: string, args: string[] = []) {
  return execa("node", [CLI, "serve", ...args], { env: childEnv(home), extendEnv: false, reject: false, stdin: "ignore" });
}

/** Polls `check` every 25 ms until it holds; after `ms`, throws naming `what` it waited for. */
export async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
