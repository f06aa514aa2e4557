import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDockerCredential } from "../../src/cli/docker-credential.js";
import { registryHostOf } from "../../src/helpers/dockerCredential.js";
import { ProviderSchema } from "../../src/roster/schema.js";
import { canary, childEnv, tempHome } from "../helpers/env.js";
import { memoryIO, runInProcess } from "../helpers/memory-io.js";

const t = tempHome("authctl-docker-cred-");
afterAll(() => t.cleanup());
const secret = canary("regpw-");

async function helper(argv: string[], input?: string, extra: Record<string, string> = {}) {
  const m = memoryIO(childEnv(t.home, extra), input);
  const exitCode = await runDockerCredential(argv, m.io);
  return { exitCode, stdout: m.stdout(), stderr: m.stderr() };
}

describe("docker-credential-authctl, in process", () => {
  it("reads a registry's host from each spelling docker passes", () => {
    expect(registryHostOf("127.0.0.1:5000\n")).toBe("127.0.0.1:5000");
    expect(registryHostOf("https://index.docker.io/v1/")).toBe("index.docker.io");
    expect(registryHostOf("https://GHCR.io")).toBe("ghcr.io");
    expect(registryHostOf("http://registry.example.com:8443/v2/")).toBe("registry.example.com:8443");
    expect(() => registryHostOf("")).toThrow(/server URL is empty/);
    expect(() => registryHostOf("https://exa mple.com")).toThrow(/is not a registry address/);
  });

  it("an unknown operation or extra arguments: docker's usage line on stdout, exit 1; version answers", async () => {
    for (const argv of [[], ["fetch"], ["get", "extra"]]) {
      const r = await helper(argv, "");
      expect(r.stdout).toMatch(/^Usage: docker-credential-authctl <get\|store\|erase\|list\|version>/);
      expect(r.exitCode).toBe(1);
    }
    const version = await helper(["version"]);
    expect(version.stdout).toMatch(/^docker-credential-authctl \(authctl\) \d+\.\d+\.\d+/);
    expect(version.exitCode).toBe(0);
  });

  it("store: JSON that does not parse, or lacks a field, is refused without quoting what was sent", async () => {
    const broken = await helper(["store"], `{"ServerURL":"127.0.0.1:5000","Secret":"${secret}"`);
    expect(broken.stdout).toContain("stdin is not JSON");
    expect(broken.exitCode).toBe(1);
    const missing = await helper(["store"], JSON.stringify({ ServerURL: "127.0.0.1:5000", Secret: secret }));
    expect(missing.stdout).toContain("the Username field is missing");
    expect(missing.exitCode).toBe(1);
    expect(broken.stdout + broken.stderr + missing.stdout + missing.stderr).not.toContain(secret);
  });

  it("a proxy_only registry credential is refused on stdout, where docker shows it, and its secret is not printed", async () => {
    mkdirSync(join(t.home, "agents"), { recursive: true });
    writeFileSync(
      join(t.home, "agents", "hiddenreg.yaml"),
      "name: hiddenreg\nlabel: Hidden registry\nkind: service\nmodes: [api_key]\napi_key: { env_var: HIDDENREG_PASSWORD }\ndelivery: { policy: proxy_only }\nregistry: { hosts: [hidden.example.com], username: bot }\n",
    );
    expect((await runInProcess(childEnv(t.home), ["key", "hiddenreg", "--stdin"], secret)).exitCode).toBe(0);
    const r = await helper(["get"], "hidden.example.com");
    expect(r.stdout).toMatch(/default:hiddenreg \(api_key\) is proxy_only/);
    expect(r.exitCode).toBe(1);
    expect(r.stdout + r.stderr).not.toContain(secret);
    const list = await helper(["list"]);
    expect(JSON.parse(list.stdout)).toEqual({ "hidden.example.com": "bot" });
  });

  it("the roster refuses a registry host with a scheme or path, and a user name with a colon, naming the field", () => {
    const entry = { name: "badreg", label: "Bad", kind: "service", modes: ["api_key"], api_key: { env_var: "BADREG_PASSWORD" } };
    const bad = ProviderSchema.safeParse({ ...entry, registry: { hosts: ["https://r.example.com/v2"], username: "a:b" } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join("."))).toEqual(["registry.hosts.0", "registry.username"]);
    expect(ProviderSchema.safeParse({ ...entry, registry: { hosts: ["r.example.com:5000"], username: "bot" } }).success).toBe(true);
  });
});
