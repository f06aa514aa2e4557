import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, CLI, REPO, tempHome } from "../helpers/env.js";

/** What `status` must not load when every row has its facts and no project file applies. */
const NOT_FOR_STATUS = /^dist\/(context|engine\/|logins\/|roster\/(load|schema)|credentials\/(?!facts)|access\/(projectFile|credentialSet|statusProbe))|node_modules\/zod\//;

describe("the built `status` (1 row of each kind, each with its facts) loads no payload type, zod, roster or context", () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);
  const hook = join(home, "..", "status-loads.cjs");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(hook, `process.on("exit", () => { for (const f of Object.keys(require.cache)) process._rawDebug("LOADED " + f); });\n`);

  it("reads the rows' facts only", async () => {
    expect((await authctl(home, ["key", "openai", "--stdin"], { input: "sk-startup-0123456789abcdef" })).exitCode).toBe(0);
    expect((await authctl(home, ["key", "gh", "--stdin", "--set", "ci"], { input: "ghp_FAKE_startup_token_not_real_0001" })).exitCode).toBe(0);
    const result = await authctl(home, ["status"], { extraEnv: { NODE_OPTIONS: `--require=${hook}` } });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/default\s+openai\s+valid/);
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
    const files = [...result.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => relative(REPO, m[1]!)).filter((f) => f.startsWith("dist/"));
    expect(files).toContain(relative(REPO, CLI));
    const inputs = files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {}));
    expect(inputs).toContain("dist/access/status.js");
    expect(inputs.filter((i) => NOT_FOR_STATUS.test(i))).toEqual([]);
    expect(inputs).toContain("dist/credentials/facts.js");
  });
});
