import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTIN_ROSTER_DIR, parseProviderFile } from "../../src/roster/load.js";
import { authctl, tempHome } from "../helpers/env.js";

describe("authctl proxy: usage errors and the roster's proxy block", () => {
  const { home, cleanup } = tempHome("authctl-proxy-usage-");
  afterAll(cleanup);

  it("`proxy client` for a login that is not stored names the set and the fix, and mints nothing (exit 3)", async () => {
    const r = await authctl(home, ["proxy", "client", "gemini", "--session", "s1", "--base-url", "http://127.0.0.1:1"]);
    expect(r.exitCode).toBe(3);
    expect(String(r.stderr)).toContain("no credentials for default:gemini; run: authctl key gemini");
    expect(String(r.stdout)).not.toContain("authctl-phantom-");
  });

  it("`container-args` with an unknown provider names the provider, before looking for a proxy or starting one (exit 2)", async () => {
    const r = await authctl(home, ["container-args", "nosuch", "--project", "foo"]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/unknown provider "?nosuch"?/i);
    expect(String(r.stderr)).not.toContain("socket");
    expect(existsSync(join(home, "run", "serve.pid"))).toBe(false);
  });

  it("a bad proxy block fails naming the file and the field", () => {
    const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "claude.yaml"), "utf8"));
    entry.proxy.oauth.allow_paths = ["v1/messages"];
    expect(() => parseProviderFile("/x/claude.yaml", stringify(entry))).toThrow(/claude\.yaml: proxy\.oauth\.allow_paths\.0: must start with '\/'/);
    entry.proxy.oauth.allow_paths = ["/v1"];
    entry.proxy.oauth.header = "cookie";
    expect(() => parseProviderFile("/x/claude.yaml", stringify(entry))).toThrow(/proxy\.oauth\.header/);
  });

  it("every shipped agent with an API key or OAuth login that the proxy serves has an upstream on its vendor's own host", () => {
    const hosts: Record<string, string> = {};
    for (const name of ["claude", "anthropic", "codex", "openai", "gemini"]) {
      const provider = parseProviderFile(join(BUILTIN_ROSTER_DIR, `${name}.yaml`), readFileSync(join(BUILTIN_ROSTER_DIR, `${name}.yaml`), "utf8"));
      for (const [mode, route] of Object.entries(provider.proxy ?? {})) hosts[`${name}.${mode}`] = new URL(route!.base_url).host;
    }
    expect(hosts).toEqual({
      "claude.api_key": "api.anthropic.com",
      "claude.oauth": "api.anthropic.com",
      "anthropic.api_key": "api.anthropic.com",
      "codex.api_key": "api.openai.com",
      "codex.oauth": "chatgpt.com",
      "openai.api_key": "api.openai.com",
      "gemini.api_key": "generativelanguage.googleapis.com",
    });
  });
});
