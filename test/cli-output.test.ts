import { afterAll, describe, expect, it } from "vitest";
import { childEnv, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const run = (args: string[], input?: string) => runInProcess(childEnv(t.home), args, input);

describe("authctl output (in-process)", () => {
  it("`version` and `-v` print the version, as `--version` does", async () => {
    const long = await run(["--version"]);
    expect(long.exitCode).toBe(0);
    expect(long.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    for (const args of [["version"], ["-v"]]) {
      const r = await run(args);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe(long.stdout);
      expect(r.stderr).toBe("");
    }
  });

  it("no arguments: the root help on stdout, exit 0", async () => {
    const r = await run([]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("Usage: authctl");
    expect(r.exitCode).toBe(0);
  });
});
