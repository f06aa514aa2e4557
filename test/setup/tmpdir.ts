import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, expect, inject } from "vitest";

/**
 * Each test file's own TMPDIR, inside the run's temp root (test/setup/global.ts): os.tmpdir() in
 * the test, every authctl child (testEnv hands TMPDIR on) and every in-process context see it, so a
 * canary scan of tmpdir() reads this file's leftovers only, never the machine's whole /tmp.
 */
const name = basename(expect.getState().testPath ?? "test", ".test.ts");
const dir = mkdtempSync(join(inject("testTmpRoot"), `${name}-`));
chmodSync(dir, 0o1777);
process.env.TMPDIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
