import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, REPO, tempHome } from "../helpers/env.js";

interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

/**
 * What `run`, `token` and `git-credential get` load with no service running and nothing to
 * refresh: each source of the chunks in `require.cache` at exit, from the build's metafile. The
 * entry and serviceAnswer.js (one file tried before any command) are left out: they hold the
 * service's fast path.
 */
describe("run, token and git-credential get load only what they run", () => {
  const { home, cleanup } = tempHome("authctl-unused-modules-");
  afterAll(cleanup);
  const hook = join(home, "..", "log-loads.cjs");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(hook, `process.on("exit", () => { for (const f of Object.keys(require.cache)) process._rawDebug("LOADED " + f); });\n`);
  const key = canary("sk-");
  const token = canary("ghp_");

  async function sourcesLoaded(args: string[], input?: string) {
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
    const result = await authctl(home, args, { extraEnv: { NODE_OPTIONS: `--require=${hook}` }, ...(input === undefined ? {} : { input }) });
    const said = result.stderr.split("\n").filter((line) => !line.startsWith("LOADED ")).join("\n");
    expect(result.exitCode, said.replaceAll(key, "<key>").replaceAll(token, "<token>")).toBe(0);
    const files = [...result.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => relative(REPO, m[1]!)).filter((f) => /^dist\/bin\/chunk-/.test(f));
    return { sources: files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {})), stdout: result.stdout };
  }

  /** The refresher and its network guard, the service's wire client, the API-key login. */
  const UNUSED = ["dist/access/fresh.js", "dist/core/netGuard.js", "dist/access/client.js", "dist/access/wire.js", "dist/access/syncWire.js", "dist/access/protocol.js", "dist/access/credentials.js", "dist/logins/api-key/apiKey.js"];

  it.each([
    { args: ["run", "--no-token", "--", "true"], uses: "dist/run/grants.js" },
    { args: ["token", "openai"], uses: "dist/cli/commands/token.js" },
    { args: ["git-credential", "get"], input: "protocol=https\nhost=github.com\n\n", uses: "dist/helpers/gitAnswer.js" },
  ])("`$args` with an API key and a gh token stored", async ({ args, input, uses }) => {
    expect((await authctl(home, ["key", "openai", "--stdin", "--force"], { input: key })).exitCode).toBe(0);
    expect((await authctl(home, ["key", "gh", "--stdin", "--force"], { input: token })).exitCode).toBe(0);
    const { sources, stdout } = await sourcesLoaded(args, input);
    // The command did its work, and the list is read (its own module is in it); booleans, so a failure prints no secret.
    expect(args[0] === "run" || stdout.includes(args[0] === "token" ? key : `password=${token}`)).toBe(true);
    expect(sources).toContain(uses);
    expect(sources.filter((s) => UNUSED.includes(s))).toEqual([]);
  });
});
