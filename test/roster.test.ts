import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RosterError, UnknownProviderError } from "../src/core/errors.js";
import { loadRoster, parseProviderFile } from "../src/roster/load.js";
import { tempHome } from "./helpers/env.js";

const GOOD = `
name: demo
label: Demo
kind: agent
modes: [oauth, api_key]
oauth:
  command: [demo, login]
  container_mount: /home/dev/.demo
  host_dir_name: _demo
  capture:
    extractor: claude
    files: [{ path: creds.json, format: json }]
api_key:
  env_var: DEMO_KEY
  prefixes: [dm-]
`;

describe("shipped roster", () => {
  it("loads every shipped provider with the modes the vendors allow", () => {
    const roster = loadRoster();
    for (const name of ["claude", "codex", "gemini", "gh", "anthropic", "openai", "openrouter", "stripe"]) {
      expect(roster.has(name)).toBe(true);
    }
    expect(roster.get("claude").modes.sort()).toEqual(["api_key", "oauth"]);
    expect(roster.get("stripe").modes).toEqual(["api_key"]);
    expect(roster.get("stripe").api_key?.prefixes).toContain("sk_live_");
    expect(roster.get("anthropic").api_key?.key_url).toMatch(/^https:\/\//);
    expect(roster.get("gh").oauth?.capture.files[0]).toEqual({ path: "hosts.yml", format: "yaml" });
  });

  it("names the known providers when one is unknown", () => {
    expect(() => loadRoster().get("nope")).toThrow(UnknownProviderError);
    expect(() => loadRoster().get("nope")).toThrow(/known providers: .*claude/);
  });
});

describe("roster validation", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["container_mount relative", GOOD.replace("/home/dev/.demo", "home/dev/.demo"), /demo\.yaml: oauth\.container_mount: must be an absolute path/],
    ["host_dir_name with a slash", GOOD.replace("_demo", "a/b"), /oauth\.host_dir_name: must be ONE path segment/],
    ["host_dir_name ..", GOOD.replace("_demo", '".."'), /oauth\.host_dir_name: must be ONE path segment/],
    ["capture path escaping", GOOD.replace("path: creds.json", "path: ../../etc/passwd"), /oauth\.capture\.files\.0\.path: must not contain '\.\.'/],
    ["empty modes", GOOD.replace("modes: [oauth, api_key]", "modes: []"), /modes: must list at least one/],
    ["unknown mode", GOOD.replace("modes: [oauth, api_key]", "modes: [magic]"), /modes\.0:/],
    ["oauth mode without oauth block", GOOD.replace(/oauth:\n(  .*\n|    .*\n|      .*\n)*/, ""), /oauth: is required when modes lists oauth/],
    ["bad env var", GOOD.replace("DEMO_KEY", "demo key"), /api_key\.env_var: must be an environment variable name/],
    ["name mismatch", GOOD.replace("name: demo", "name: other"), /name: must equal the file name "demo"/],
    ["bad name", GOOD.replace("name: demo", "name: Demo!"), /name: must match/],
    ["unknown field", GOOD + "colour: red\n", /demo\.yaml: .*colour/],
    ["not YAML", "name: [unclosed", /demo\.yaml: is not valid YAML/],
    ["not a mapping", "- a\n- b\n", /demo\.yaml: must be a YAML mapping/],
    ["empty command", GOOD.replace("command: [demo, login]", "command: []"), /oauth\.command: must be a non-empty argv list/],
  ];

  it("accepts a good file", () => {
    expect(parseProviderFile("/x/demo.yaml", GOOD).name).toBe("demo");
  });

  for (const [what, text, message] of bad) {
    it(`rejects ${what} with an error naming file and field`, () => {
      let caught: unknown;
      try {
        parseProviderFile("/x/demo.yaml", text);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(RosterError);
      expect((caught as Error).message).toMatch(/^roster: \/x\/demo\.yaml: /);
      expect((caught as Error).message).toMatch(message);
    });
  }
});

describe("user roster dir", () => {
  let cleanup = () => {};
  afterEach(() => cleanup());

  it("adds providers and overrides shipped ones by name", () => {
    const t = tempHome();
    cleanup = t.cleanup;
    const dir = join(t.home, "agents");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "demo.yaml"), GOOD);
    writeFileSync(join(dir, "stripe.yaml"), "name: stripe\nlabel: My Stripe\nkind: service\nmodes: [api_key]\napi_key: { env_var: STRIPE_KEY }\n");
    const roster = loadRoster({ userDir: dir });
    expect(roster.get("demo").label).toBe("Demo");
    expect(roster.get("stripe").label).toBe("My Stripe");
    expect(roster.get("claude").label).toBe("Claude Code");
  });

  it("a bad user file is skipped, named by its full path, and the rest loads", () => {
    const t = tempHome();
    cleanup = t.cleanup;
    const dir = join(t.home, "agents");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "demo.yaml"), GOOD.replace("/home/dev/.demo", "relative"));
    const roster = loadRoster({ userDir: dir });
    expect(roster.skipped.map((e) => e.message)).toEqual([expect.stringContaining(`${join(dir, "demo.yaml")}: oauth.container_mount`)]);
    expect(roster.has("demo")).toBe(false);
    expect(roster.has("claude")).toBe(true);
  });
});
