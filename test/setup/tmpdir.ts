import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, inject } from "vitest";

/**
 * Each test file's own TMPDIR, inside the run's temp root (test/setup/global.ts): os.tmpdir() in
 * the test, every authctl child (testEnv hands TMPDIR on) and every in-process context see it, so a
 * canary scan of tmpdir() reads this file's leftovers only, never the machine's whole /tmp.
 * A one-letter name: the file's Unix sockets live below it, within a socket path's 107 bytes.
 */
const dir = mkdtempSync(join(inject("testTmpRoot"), "t"));
chmodSync(dir, 0o1777);
process.env.TMPDIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
