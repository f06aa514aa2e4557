import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import * as abort from "../src/core/abort.js";
import { InterruptedError } from "../src/core/errors.js";
import { readRegularFileSync } from "../src/core/regularFile.js";
import { exitCodeOf } from "../src/cli/exitCodes.js";
import { promptHidden, promptLine } from "../src/ui/prompt.js";
import { canary } from "./helpers/env.js";

/** Control flow by types and codes, never by an error's text or a listener count. */
describe("control flow by types", () => {
  const dir = mkdtempSync(join(tmpdir(), "authctl-cleanup-types-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a file refusal carries its code, so callers never match the problem's wording", () => {
    const big = join(dir, "big.json");
    writeFileSync(big, "x".repeat(2048));
    const seen: unknown[] = [];
    const read = () =>
      readRegularFileSync(big, {
        limit: 1024,
        followSymlinks: false,
        refuse: (...args: unknown[]) => {
          seen.push(args[1]);
          return new Error("refused");
        },
      });
    expect(read).toThrow("refused");
    expect(seen).toEqual(["too_large"]);
  });

  it("Ctrl-C at a hidden prompt rejects with InterruptedError (exit 130), and what was typed is not in it", async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
    const stderr = new PassThrough();
    let shown = "";
    stderr.on("data", (c: Buffer) => (shown += c.toString("utf8")));
    const typed = canary("sk-");
    const answer = promptHidden({ stdin, stderr }, "key: ");
    stdin.write(`${typed}\u0003`);
    const error = await answer.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect((error as InterruptedError).signal).toBe("SIGINT");
    expect(exitCodeOf(error)).toBe(130);
    expect(String((error as Error).message) + shown).not.toContain(typed);
  });

  it("Ctrl-C at a menu question on a terminal rejects with InterruptedError too, instead of pausing forever", async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
    const answer = promptLine({ stdin, stderr: new PassThrough() }, "choice: ");
    setTimeout(() => stdin.write("\u0003"), 50);
    const error = await Promise.race([answer.catch((e: unknown) => e), new Promise((done) => setTimeout(() => done("still waiting"), 3_000))]);
    expect(error).toBeInstanceOf(InterruptedError);
  });

  it("a stop is held only where a call says so: another listener on the signal does not hold it", () => {
    const { isSignalHeld } = abort as unknown as { isSignalHeld: (s: AbortSignal) => boolean };
    const controller = new AbortController();
    // What node itself adds for a timer, a fetch or a readline question given the signal.
    controller.signal.addEventListener("abort", () => {});
    expect(isSignalHeld(controller.signal)).toBe(false);
    const release = abort.holdSignal(controller.signal);
    const releaseAgain = abort.holdSignal(controller.signal);
    expect(isSignalHeld(controller.signal)).toBe(true);
    release();
    expect(isSignalHeld(controller.signal)).toBe(true);
    releaseAgain();
    releaseAgain();
    expect(isSignalHeld(controller.signal)).toBe(false);
  });
});
