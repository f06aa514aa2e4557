import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { UsageError } from "../../src/core/errors.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { runWithCredentials } from "../../src/run/run.js";
import { useCleanups } from "../helpers/cleanups.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";

const cleanups = useCleanups();

function setup() {
  const t = tempHome("authctl-collide-");
  const env = { ...baseEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" };
  const context = new Authctl({ env, home: t.home });
  cleanups.push(t.cleanup, () => context.close());
  return { ...t, env, context };
}

// Two providers whose roster entries export the same variable.
const PAIRS = [
  { a: "anthropic", b: "claude", variable: "ANTHROPIC_API_KEY", prefix: "sk-ant-" },
  { a: "openai", b: "codex", variable: "OPENAI_API_KEY", prefix: "sk-proj-" },
] as const;

describe("run: two providers that export the same variable", () => {
  for (const { a, b, variable, prefix } of PAIRS) {
    it(`--only ${a},${b} is refused naming both, ${variable} and the fix; the command never starts`, async () => {
      const s = setup();
      const [keyA, keyB] = [canary(prefix), canary(prefix)];
      storeApiKey(a, keyA, { context: s.context });
      storeApiKey(b, keyB, { context: s.context });
      const marker = `${s.home}-started`;
      const error = await runWithCredentials(["sh", "-c", `touch ${marker}`], { context: s.context, only: [a, b] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UsageError);
      const message = (error as Error).message;
      for (const word of [a, b, variable, `--only ${a}`, `--only ${b}`]) expect(message).toContain(word);
      expect(message).not.toContain(keyA);
      expect(message).not.toContain(keyB);
      const { existsSync } = await import("node:fs");
      expect(existsSync(marker)).toBe(false);
    });

    it(`a whole-set run holding ${a} and ${b} is refused the same way (exit 2), never choosing one`, async () => {
      const s = setup();
      const [keyA, keyB] = [canary(prefix), canary(prefix)];
      storeApiKey(a, keyA, { context: s.context });
      storeApiKey(b, keyB, { context: s.context });
      const r = await runInProcess(s.env, ["run", "--no-token", "--", "sh", "-c", `echo "got=$${variable}"`]);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).not.toContain("got=");
      expect(r.stderr).toContain(variable);
      expect(r.stderr).toContain(`--only ${a}`);
      expect(r.stderr).toContain(`--only ${b}`);
      expect(r.stdout + r.stderr).not.toContain(keyA);
      expect(r.stdout + r.stderr).not.toContain(keyB);
    });

    it(`${a} and ${b} holding the same key is no collision: the child gets it`, async () => {
      const s = setup();
      const key = canary(prefix);
      storeApiKey(a, key, { context: s.context });
      storeApiKey(b, key, { context: s.context });
      const r = await runInProcess(s.env, ["run", "--no-token", "--no-mask", "--only", `${a},${b}`, "--", "sh", "-c", `echo "got=$${variable}"`]);
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`got=${key}\n`);
    });

    it(`--only ${b} alone exports ${b}'s key`, async () => {
      const s = setup();
      const [keyA, keyB] = [canary(prefix), canary(prefix)];
      storeApiKey(a, keyA, { context: s.context });
      storeApiKey(b, keyB, { context: s.context });
      const r = await runInProcess(s.env, ["run", "--no-token", "--no-mask", "--only", b, "--", "sh", "-c", `echo "got=$${variable}"`]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`got=${keyB}\n`);
    });
  }
});
