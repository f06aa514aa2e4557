import { describe, expect, it } from "vitest";
import { deliveryPolicyOf, envNamesOf, secretOf } from "../../src/access/delivery.js";
import { RosterError } from "../../src/core/errors.js";
import { loadRoster, parseProviderFile } from "../../src/roster/load.js";

const roster = loadRoster();
const base = "name: demo\nlabel: Demo\nkind: service\nmodes: [api_key]\napi_key:\n  env_var: DEMO_KEY\n";

describe("delivery policy (roster `delivery`)", () => {
  it("defaults to runtime_env; Claude's subscription OAuth is proxy_only, its API key is not", () => {
    expect(deliveryPolicyOf(parseProviderFile("/x/demo.yaml", base), "api_key")).toBe("runtime_env");
    expect(deliveryPolicyOf(roster.get("claude"), "oauth")).toBe("proxy_only");
    expect(deliveryPolicyOf(roster.get("claude"), "api_key")).toBe("runtime_env");
    expect(deliveryPolicyOf(roster.get("codex"), "oauth")).toBe("runtime_env");
  });

  it("exports under the roster's variable plus the extra names a provider declares", () => {
    expect(envNamesOf(roster.get("gh"), "oauth")).toEqual(["GH_TOKEN", "GITHUB_TOKEN"]);
    expect(envNamesOf(roster.get("anthropic"), "api_key")).toEqual(["ANTHROPIC_API_KEY"]);
    expect(envNamesOf(roster.get("claude"), "oauth")).toEqual(["CLAUDE_CODE_OAUTH_TOKEN"]);
    const extra = parseProviderFile("/x/demo.yaml", `${base}delivery:\n  extra_env: [DEMO_TOKEN]\n`);
    expect(envNamesOf(extra, "api_key")).toEqual(["DEMO_KEY", "DEMO_TOKEN"]);
  });

  it("a bad delivery field fails naming the file and the field", () => {
    expect(() => parseProviderFile("/x/demo.yaml", `${base}delivery:\n  policy: everywhere\n`)).toThrow(RosterError);
    expect(() => parseProviderFile("/x/demo.yaml", `${base}delivery:\n  policy: everywhere\n`)).toThrow(/demo\.yaml: delivery\.policy/);
    expect(() => parseProviderFile("/x/demo.yaml", `${base}delivery:\n  extra_env: [lower]\n`)).toThrow(/delivery\.extra_env\.0: must be an environment variable name/);
  });

  it("asks the payload's type for its secret; a payload of no known shape is an error naming the row", () => {
    expect(secretOf({ kind: "api_key", payload: { type: "api_key", key: "K" } })).toBe("K");
    expect(secretOf({ kind: "oauth", payload: { accessToken: "A", refreshToken: "R", files: {} } })).toBe("A");
    expect(() => secretOf({ credentialSet: "default", provider: "gh", kind: "oauth", payload: { files: {} } })).toThrow(/default:gh: the oauth payload is of no known type/);
  });
});
