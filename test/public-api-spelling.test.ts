import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import { Authctl, InvalidApiKeyError, InvalidArgumentError, getCredentials, storeApiKey } from "../src/index.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

const DAY = 24 * 3600_000;

describe("the public API: one spelling, typed data, clear errors (issue 20 item 3, issue 21 item 10)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  let context: Authctl;

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = { ...baseEnv(), AUTHCTL_HOME: home, NO_COLOR: "1" };
    context = new Authctl({ env });
  });
  afterEach(() => {
    context.close();
    cleanup();
  });

  /** What a JavaScript caller (no type checker) can pass. */
  const loose = <F>(fn: F) => fn as unknown as (...args: unknown[]) => unknown;

  describe("a missing or mistyped argument is a typed error naming it, never a TypeError from inside", () => {
    it("storeApiKey(provider, undefined) is InvalidApiKeyError naming the key argument", () => {
      const call = () => loose(storeApiKey)("stripe", undefined, { context });
      expect(call).toThrow(InvalidApiKeyError);
      expect(call).toThrow(/storeApiKey: the argument key must be a string \(got undefined\)/);
    });

    it("a key of the wrong type is named by its type only, never shown", () => {
      const secret = canary("sk_live_");
      let message = "";
      try {
        loose(storeApiKey)("stripe", { key: secret }, { context });
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidApiKeyError);
        message = (e as Error).message;
      }
      expect(message).toMatch(/key must be a string \(got an object\)/);
      expect(message).not.toContain(secret);
    });

    it.each([
      ["storeApiKey without a provider", () => loose(storeApiKey)(undefined, "sk_live_x", { context }), /storeApiKey: the argument provider must be a string/],
      ["storeApiKey with a numeric set", () => loose(storeApiKey)("stripe", "sk_live_x", { context, credentialSet: 7 }), /storeApiKey: the argument options\.credentialSet must be a string \(got number\)/],
      ["getCredentials without a provider", () => loose(getCredentials)(undefined, { context }), /getCredentials: the argument provider must be a string/],
      ["getCredentials with options that are a string", () => loose(getCredentials)("stripe", "ci"), /getCredentials: the argument options must be an object \(got string\)/],
      ["listCredentials with a numeric set", () => loose(api.listCredentials)({ context, credentialSet: 1 }), /listCredentials: the argument options\.credentialSet must be a string/],
    ])("%s", (_name, call, message) => {
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(message);
    });

    it("status with a require list that is not an array rejects with InvalidArgumentError", async () => {
      await expect(loose(api.status)({ context, require: "claude" }) as Promise<unknown>).rejects.toThrow(InvalidArgumentError);
    });
  });

  describe("listCredentials() and status(): the data `creds list --json` and `status --json` print", () => {
    beforeEach(() => {
      const secret = { type: "api_key", key: canary("sk_") };
      const store = context.store();
      store.put("default", "stripe", "api_key", secret, { preview: "sk_…abcd" });
      store.put("default", "claude", "oauth", secret, { preview: "sk-…1111", expiresAt: new Date(Date.now() + 10 * DAY) });
      store.put("default", "codex", "oauth", secret, { preview: "eyJ…2222", expiresAt: new Date(Date.now() - 10 * DAY) });
      store.put("ci", "anthropic", "api_key", secret, { preview: "sk-…4444" });
    });

    it("listCredentials() equals `creds list --json`, for every set and for one", async () => {
      for (const [args, options] of [[[], {}], [["--set", "ci"], { credentialSet: "ci" }]] as const) {
        const cli = await runInProcess(env, ["creds", "list", "--json", ...args]);
        expect(cli.exitCode).toBe(0);
        expect(api.listCredentials({ context, ...options })).toEqual(JSON.parse(cli.stdout));
      }
      const listed = api.listCredentials({ context });
      expect(listed.map((c) => `${c.credentialSet}:${c.provider}`).sort()).toEqual(["ci:anthropic", "default:claude", "default:codex", "default:stripe"]);
      expect(listed.find((c) => c.provider === "codex")).toMatchObject({ kind: "oauth", preview: "eyJ…2222", expired: true });
      expect(JSON.stringify(listed)).not.toContain("CANARY");
    });

    it("status() equals `status --json`, with --require and --set", async () => {
      for (const [args, options] of [
        [[], {}],
        [["--set", "ci", "--require", "anthropic,openai"], { credentialSet: "ci", require: ["anthropic", "openai"] }],
      ] as const) {
        const cli = await runInProcess(env, ["status", "--json", ...args]);
        const library = await api.status({ context, ...options });
        expect(library).toEqual(JSON.parse(cli.stdout));
        expect(cli.exitCode).toBe(library.missing.length ? 3 : 0);
      }
      const { logins, missing, unlockedBy } = await api.status({ context, credentialSet: "ci", require: ["anthropic", "openai"] });
      expect(unlockedBy).toBe("key file");
      expect(missing).toEqual(["openai"]);
      expect(logins.find((l) => l.provider === "openai")).toMatchObject({ state: "missing", fix: "authctl key openai --set ci" });
      expect(JSON.stringify(logins)).not.toContain("CANARY");
    });
  });
});
