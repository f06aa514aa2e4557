import { execa } from "execa";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ECHO_STDIN = "process.stdin.pipe(process.stdout)";

/** `run`'s child gets authctl's own standard input (fd 0), whatever it is, with the set's secrets concealed in what it echoes. */
describe("authctl run: the child's standard input", () => {
  it("reads a pipe and a file given to authctl, and its echo of a secret is concealed", async () => {
    const t = tempHome("authctl-run-stdin-");
    cleanups.push(t.cleanup);
    const key = canary("sk-ant-");
    expect((await authctl(t.home, ["key", "anthropic", "--stdin"], { input: key })).exitCode).toBe(0);

    const piped = await authctl(t.home, ["run", "--no-token", "--", "node", "-e", ECHO_STDIN], { input: `first line\nkey ${key}\n` });
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout).toBe("first line\nkey <concealed by authctl>");
    expect(piped.stdout + piped.stderr).not.toContain(key);

    const file = join(t.home, "..", "input.txt");
    writeFileSync(file, "from a file\n");
    const fromFile = await execa("node", [CLI, "run", "--no-token", "--", "node", "-e", ECHO_STDIN], { env: childEnv(t.home), extendEnv: false, reject: false, inputFile: file });
    expect(fromFile.exitCode).toBe(0);
    expect(fromFile.stdout).toBe("from a file");

    const none = await authctl(t.home, ["run", "--no-token", "--", "node", "-e", ECHO_STDIN]);
    expect(none.exitCode).toBe(0);
    expect(none.stdout).toBe("");
  });
});
