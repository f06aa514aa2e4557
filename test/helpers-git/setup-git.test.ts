import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { childEnv, tempHome } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const gitConfig = join(dirname(t.home), ".gitconfig");
// Never the developer's own git config: every git this file starts writes here.
const env = () => childEnv(t.home, { HOME: dirname(t.home), GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: "1" });
const run = (args: string[]) => runInProcess(env(), args);

function userRoster(name: string, yaml: string): void {
  mkdirSync(join(t.home, "agents"), { recursive: true });
  writeFileSync(join(t.home, "agents", `${name}.yaml`), yaml);
}

describe("setup-git refuses what would send a token astray, before writing anything", () => {
  it("plain http to another machine", async () => {
    const r = await run(["setup-git", "--host", "http://git.example.com", "--provider", "gh"]);
    expect(r.stderr).toContain("use https://git.example.com");
    expect(r.exitCode).toBe(2);
  });

  it("a host no provider declares, without --provider", async () => {
    const r = await run(["setup-git", "--host", "git.corp.example"]);
    expect(r.stderr).toContain("no provider declares the git host git.corp.example: name the one whose credential it takes with --provider");
    expect(r.exitCode).toBe(2);
  });

  it("a provider that declares no git hosts, without --host", async () => {
    const r = await run(["setup-git", "--provider", "anthropic"]);
    expect(r.stderr).toContain("anthropic declares no git hosts in its roster entry: name the host with --host");
    expect(r.exitCode).toBe(2);
  });

  it("a host with a path or user", async () => {
    for (const host of ["github.com/org", "user@github.com", "https://github.com/org/repo"]) {
      expect((await run(["setup-git", "--host", host, "--provider", "gh"])).exitCode).toBe(2);
    }
    expect(existsSync(gitConfig)).toBe(false);
  });
});

describe("the roster's git field", () => {
  it("a host with a scheme is refused naming the file and field", async () => {
    userRoster("forge", "name: forge\nlabel: Forge\nkind: tool\nmodes: [api_key]\napi_key: { env_var: FORGE_TOKEN }\ngit: { hosts: ['https://forge.example'] }\n");
    const r = await run(["token", "forge"]);
    expect(r.stderr).toMatch(/agents\/forge\.yaml: git\.hosts\.0: must be a host as git names it/);
    expect(r.exitCode).toBe(1);
  });

  it("a user roster entry adds hosts that git-credential then answers", async () => {
    userRoster("forge", "name: forge\nlabel: Forge\nkind: tool\nmodes: [api_key]\napi_key: { env_var: FORGE_TOKEN }\ngit: { hosts: [forge.example], username: bot }\n");
    const r = await run(["setup-git", "--json"]);
    expect(r.exitCode).toBe(0);
    const entries = JSON.parse(r.stdout) as { url: string; provider: string; helper: string }[];
    expect(entries.map((e) => [e.url, e.provider])).toEqual([
      ["https://forge.example", "forge"],
      ["https://github.com", "gh"],
      ["https://gitlab.com", "glab"],
    ]);
    expect(entries[0]!.helper).toMatch(/ git-credential --provider forge$/);
  });
});
