import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canary, childEnv, tempHome } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const printed: string[] = [];
async function run(args: string[], input?: string, extra: Record<string, string> = {}) {
  const r = await runInProcess(childEnv(t.home, extra), args, input);
  printed.push(r.stderr);
  return r;
}

const ghKey = canary("ghp_");
const ciKey = canary("ghp_");
const hidden = canary("sk-hidden-");

describe("authctl token", () => {
  it("prints the stored secret and nothing else, newline-terminated", async () => {
    expect((await run(["key", "gh", "--stdin"], ghKey)).exitCode).toBe(0);
    const r = await run(["token", "gh"]);
    expect(r.stdout).toBe(`${ghKey}\n`);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  it("--json names the credential beside the token", async () => {
    const r = await run(["token", "gh", "--json"]);
    expect(JSON.parse(r.stdout)).toEqual({ credentialSet: "default", provider: "gh", kind: "api_key", token: ghKey, expiresAt: null });
    expect(r.exitCode).toBe(0);
  });

  it("takes the set from --set, else AUTHCTL_SET, else the default set", async () => {
    expect((await run(["key", "gh", "--set", "ci", "--stdin"], ciKey)).exitCode).toBe(0);
    expect((await run(["token", "gh", "--set", "ci"])).stdout).toBe(`${ciKey}\n`);
    expect((await run(["token", "gh"], undefined, { AUTHCTL_SET: "ci" })).stdout).toBe(`${ciKey}\n`);
    expect((await run(["token", "gh", "--set", "default"], undefined, { AUTHCTL_SET: "ci" })).stdout).toBe(`${ghKey}\n`);
  });

  it("refuses a provider whose delivery policy is proxy_only, without printing its secret", async () => {
    mkdirSync(join(t.home, "agents"), { recursive: true });
    writeFileSync(
      join(t.home, "agents", "hidden.yaml"),
      "name: hidden\nlabel: Hidden\nkind: service\nmodes: [api_key]\napi_key: { env_var: HIDDEN_API_KEY }\ndelivery: { policy: proxy_only }\n",
    );
    expect((await run(["key", "hidden", "--stdin"], hidden)).exitCode).toBe(0);
    const r = await run(["token", "hidden"]);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/default:hidden \(api_key\) is proxy_only/);
    expect(r.exitCode).toBe(1);
  });

  it("a missing credential is exit 3 with the command that stores it", async () => {
    const r = await run(["token", "anthropic", "--set", "nokeys"]);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("run: authctl key anthropic --set nokeys");
    expect(r.exitCode).toBe(3);
    const json = await run(["token", "anthropic", "--set", "nokeys", "--json"]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "missing_credentials", fix: "authctl key anthropic --set nokeys" } });
    expect(json.exitCode).toBe(3);
  });

  it("an unknown provider is a usage error naming the known ones", async () => {
    const r = await run(["token", "nope"]);
    expect(r.stderr).toMatch(/unknown provider "nope"; known providers: .*gh/);
    expect(r.exitCode).toBe(2);
  });
});

afterAll(() => {
  for (const secret of [ghKey, ciKey, hidden]) expect(printed.join("\n")).not.toContain(secret);
});
