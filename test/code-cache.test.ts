import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, authctl, canary, childEnv, tempHome } from "./helpers/env.js";

/**
 * The bin's V8 code cache (dist/bin/code-cache.bin, src/cli/codeCache.ts) is only a speed-up: a
 * damaged, cut, foreign or missing cache must leave every command's output as it was. Node 20's V8
 * checks a cache's header, not its bytes: bytes flipped past the header made V8 abort ("Fatal error
 * … unreachable code", exit 133) before the loader checked the pack's digest. Each case runs a copy
 * of the built bin (same depth under dist/, so its relative paths still resolve), never the shared one.
 */
describe("the bin's code cache", () => {
  const { home, cleanup } = tempHome();
  const bin = join(REPO, `dist/bin-code-cache-test-${process.pid}`);
  const pack = join(bin, "code-cache.bin");
  // Test-only: reads the count the loader keeps of files V8 compiled from the cache; the bin never prints it.
  const hook = join(home, "..", "accepted.cjs");
  const secret = canary("sk-");
  let original: Buffer;

  beforeAll(async () => {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(hook, `process.on("exit", () => process._rawDebug("ACCEPTED " + (globalThis[Symbol.for("authctl.codeCache.accepted")] ?? 0)));\n`);
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: secret })).exitCode).toBe(0);
    cpSync(join(REPO, "dist/bin"), bin, { recursive: true });
    original = readFileSync(pack);
  });
  afterAll(() => {
    rmSync(bin, { recursive: true, force: true });
    cleanup();
  });

  async function run(args: string[]) {
    const result = await execa("node", [join(bin, "authctl.js"), ...args], { env: childEnv(home, { NODE_OPTIONS: `--require=${hook}` }), extendEnv: false, reject: false, stdin: "ignore" });
    expect(result.stderr.includes(secret)).toBe(false);
    const accepted = Number(/^ACCEPTED (\d+)$/m.exec(result.stderr)?.[1]);
    return { exitCode: result.exitCode, signal: result.signal, stdout: result.stdout, accepted };
  }

  async function expectSameOutput() {
    const version = await run(["--version"]);
    expect(version).toMatchObject({ exitCode: 0, stdout: "0.1.0" });
    const token = await run(["token", "openai"]);
    expect([token.exitCode, token.signal]).toEqual([0, undefined]);
    // A boolean: a failed assertion prints no secret.
    expect(token.stdout === secret).toBe(true);
    return token.accepted;
  }

  it("is shipped beside the bin and used as built", async () => {
    expect(original.length).toBeGreaterThan(0);
    writeFileSync(pack, original);
    expect(await expectSameOutput()).toBeGreaterThan(0);
  });

  it("with bytes flipped past its header (once a crash in V8): ignored, same output", async () => {
    const damaged = Buffer.from(original);
    for (let i = damaged.indexOf(10) + 2000; i < damaged.length; i += 997) damaged[i]! ^= 0xff;
    writeFileSync(pack, damaged);
    expect(await expectSameOutput()).toBe(0);
  });

  it("cut short: ignored, same output", async () => {
    writeFileSync(pack, original.subarray(0, Math.floor(original.length / 2)));
    expect(await expectSameOutput()).toBe(0);
  });

  it("garbage: ignored, same output", async () => {
    writeFileSync(pack, Buffer.alloc(4096, 0x5a));
    expect(await expectSameOutput()).toBe(0);
  });

  it("missing: same output", async () => {
    rmSync(pack);
    expect(await expectSameOutput()).toBe(0);
  });
});
