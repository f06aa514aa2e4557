import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readRegularFileSync } from "../src/core/regularFile.js";

const refuse = (problem: string) => new Error(problem);

/**
 * The read buffer is sized by the file's fstat size, so a file longer than its stat says (one that
 * grew after the check; Linux's /proc files all report size 0) must still be read whole, and still
 * refused past the limit.
 */
describe("readRegularFileSync reads past a stale size, up to its limit", () => {
  it("reads a file whose stat says 0 bytes to its end", () => {
    const text = readRegularFileSync("/proc/self/status", { limit: 1024 * 1024, followSymlinks: true, refuse });
    expect(text).toMatch(/^Name:/);
    expect(text!.length).toBeGreaterThan(200);
    expect(text).toContain("\nPid:");
  });

  it("refuses it once it passes the limit, however little its stat said", () => {
    expect(() => readRegularFileSync("/proc/self/status", { limit: 64, followSymlinks: true, refuse })).toThrow(/is 65 bytes, over the 64-byte limit/);
  });

  it("reads an ordinary file exactly", () => {
    const text = readRegularFileSync(new URL("../package.json", import.meta.url).pathname, { limit: 1024 * 1024, followSymlinks: true, refuse });
    expect(text).toBe(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  });
});
