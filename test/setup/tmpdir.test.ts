import { execFileSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { canary, testEnv } from "../helpers/env.js";
import { filesContaining } from "../helpers/leaks.js";

/** Issue 19: authctl under test gets its own TMPDIR, and leak scans read that, never the machine's /tmp. */
describe("each test file's own TMPDIR", () => {
  it("is a fresh sticky dir inside this run's temp root, not the machine's temp dir", () => {
    const shared = inject("sharedTmpdir");
    expect(tmpdir()).not.toBe(shared);
    expect(dirname(tmpdir())).toBe(inject("testTmpRoot"));
    expect(relative(shared, tmpdir())).toMatch(/^authctl-tests-[^/]{6}\/t[^/]{6}$/);
    expect(statSync(tmpdir()).mode & 0o7777).toBe(0o1777);
  });

  it("is what a child authctl gets as TMPDIR", () => {
    const seen = execFileSync(process.execPath, ["-e", "process.stdout.write(require('os').tmpdir())"], { env: testEnv(), encoding: "utf8" });
    expect(seen).toBe(tmpdir());
  });

  it("leak scans refuse the shared temp dir and anything above it, and read the file's own", () => {
    const secret = canary();
    mkdirSync(join(tmpdir(), "left"), { recursive: true });
    writeFileSync(join(tmpdir(), "left", "behind"), secret);
    expect(filesContaining(tmpdir(), secret)).toEqual(["left/behind"]);
    for (const root of [inject("sharedTmpdir"), "/"]) {
      expect(() => filesContaining(root, secret)).toThrow(/shared temp dir .* scan the test's home and tmpdir\(\)/);
    }
  });
});
