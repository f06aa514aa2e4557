import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFactory } from "../src/cli/factory.js";
import { runStatus, type StatusRow } from "../src/cli/commands/status.js";
import { CredentialStore } from "../src/store/store.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";
import { memoryIO, runInProcess } from "./helpers/memory-io.js";

const HOUR = 3600_000;

describe("authctl status: which logins work, at a glance", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  const NOW = Date.parse("2026-11-23T12:00:00Z");

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = { ...baseEnv(), AUTHCTL_HOME: home, NO_COLOR: "1" };
    using store = CredentialStore.open({ home, env });
    const secret = { type: "api_key", key: canary("sk_") };
    // Captured logins without a refresh token: expiring and expired mean a new login is needed.
    const login = { type: "oauth", files: {}, accessToken: canary() };
    store.put("default", "stripe", "api_key", secret, { preview: "sk_…abcd" });
    store.put("default", "claude", "oauth", login, { preview: "sk-…1111", expiresAt: new Date(NOW + 2 * HOUR) });
    store.put("default", "codex", "oauth", login, { preview: "eyJ…2222", expiresAt: new Date(NOW - HOUR) });
    store.put("default", "gemini", "oauth", login, { preview: "ya2…3333", expiresAt: new Date(NOW + 72 * HOUR) });
    store.put("ci", "anthropic", "api_key", secret, { preview: "sk-…4444" });
  });
  afterEach(() => cleanup());

  async function status(args: { set?: string; require?: string; json?: boolean }, extraEnv: Record<string, string> = {}) {
    const m = memoryIO({ ...env, ...extraEnv });
    const f = createFactory(m.io, new AbortController().signal);
    try {
      const code = await runStatus(f, { ...args, clock: { now: () => NOW } });
      return { code, stdout: m.stdout(), stderr: m.stderr() };
    } finally {
      f.close();
    }
  }

  it("one row per (set, provider): valid, expiring within 24 h, expired — with kind, source, masked preview, expiry", async () => {
    const r = await status({ json: true });
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { logins: StatusRow[]; unlockedBy: string };
    expect(json.unlockedBy).toBe("key file");
    const state = Object.fromEntries(json.logins.map((l) => [`${l.credentialSet}:${l.provider}`, l.state]));
    expect(state).toEqual({ "ci:anthropic": "valid", "default:claude": "expiring", "default:codex": "expired", "default:gemini": "valid", "default:stripe": "valid" });
    expect(json.logins.find((l) => l.provider === "codex")).toMatchObject({ kind: "oauth", source: "store", preview: "eyJ…2222", expiresAt: new Date(NOW - HOUR).toISOString() });
  });

  it("the table shows the header (home, key source) and the rows; --set narrows to one set", async () => {
    const r = await status({ set: "ci" });
    expect(r.stdout).toMatch(/unlocked by\s+key file/);
    expect(r.stdout).toMatch(/SET\s+PROVIDER\s+STATE\s+KIND\s+SOURCE\s+PREVIEW\s+EXPIRES/);
    expect(r.stdout).toMatch(/ci\s+anthropic\s+valid\s+api_key\s+store\s+sk-…4444/);
    expect(r.stdout).not.toContain("claude");
  });

  it("--require exits 3 naming the fix when a provider is missing; an env var counts as present", async () => {
    const missing = await status({ require: "stripe,openai,claude" });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("missing default:openai; run: authctl key openai");
    expect(missing.stdout).toMatch(/default\s+openai\s+missing/);

    const fromEnv = await status({ require: "stripe,openai", json: true }, { OPENAI_API_KEY: canary("sk-") });
    expect(fromEnv.code).toBe(0);
    expect((JSON.parse(fromEnv.stdout) as { logins: StatusRow[] }).logins.find((l) => l.provider === "openai")).toMatchObject({ state: "valid", source: "env OPENAI_API_KEY" });
  });

  it("the binary path: `authctl status --require msgraph --set ci` exits 3 with the auth command; no secret is printed", async () => {
    const r = await runInProcess(env, ["status", "--require", "msgraph", "--set", "ci"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain("run: authctl auth msgraph --set ci");
    expect(r.stdout + r.stderr).not.toContain("CANARY");
  });
});
