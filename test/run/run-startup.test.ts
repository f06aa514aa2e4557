import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, tempHome } from "../helpers/env.js";

/**
 * What `run` builds before its child starts: Node builds `process.stdin` on first read (for
 * /dev/null or a file an fs.ReadStream, loading fs streams), and the child is handed fd 0
 * without it. Checked on the built CLI with Node's own list of the built-ins it loaded.
 */
describe("authctl run --no-token -- true: start-up work", () => {
  const { home, cleanup } = tempHome("authctl-run-startup-");
  afterAll(cleanup);
  const hook = join(home, "..", "log-builtins.cjs");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(hook, `process.on("exit", () => { for (const m of process.moduleLoadList) if (m.startsWith("NativeModule ")) process._rawDebug("BUILTIN " + m.slice(13)); });\n`);

  it("hands the child fd 0 without building process.stdin (no fs streams loaded)", async () => {
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    const result = await authctl(home, ["run", "--no-token", "--", "true"], { extraEnv: { NODE_OPTIONS: `--require=${hook}` } });
    expect(result.exitCode, result.stderr).toBe(0);
    const builtins = [...result.stderr.matchAll(/^BUILTIN (\S+)$/gm)].map((m) => m[1]!);
    expect(builtins).toContain("child_process");
    expect(builtins).not.toContain("internal/fs/streams");
  });
});
