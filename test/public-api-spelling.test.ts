import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import {
  ApiKeyStrategy,
  Authctl,
  Authenticator,
  InvalidApiKeyError,
  InvalidArgumentError,
  authenticate,
  buildGoogleCredentials,
  buildMsalApp,
  getCredentials,
  prepareAgentContainer,
  prepareOAuthSession,
  recordCredential,
  storeApiKey,
  type AuthUi,
} from "../src/index.js";
import { baseEnv } from "./helpers/context.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { canary, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";
import { listeningService } from "./helpers/service.js";
import { ServiceClient } from "../src/index.js";
import { ADMIN_KEY_LABEL } from "../src/access/adminAuth.js";

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
      ["storeCommandSource without a provider", () => loose(api.storeCommandSource)(undefined, ["echo", "x"], { context }), /storeCommandSource: the argument provider must be a string \(got undefined\)/],
      ["storeCommandSource with a command that is a string", () => loose(api.storeCommandSource)("stripe", "vault read x", { context }), /storeCommandSource: the argument command must be an array \(got string\)/],
    ])("%s", (_name, call, message) => {
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(message);
    });

    it.each([
      ["removeCredential without a provider", () => loose(api.removeCredential)(undefined, { context }), /removeCredential: the argument provider must be a string \(got undefined\)/],
      ["prepareHostLogin without a provider", () => loose(api.prepareHostLogin)(undefined, { context }), /prepareHostLogin: the argument provider must be a string \(got undefined\)/],
      ["authenticate without a provider", () => loose(api.authenticate)(undefined, { context }), /authenticate: the argument provider must be a string \(got undefined\)/],
    ])("%s (a rejected promise)", async (_name, call, message) => {
      const result = call() as Promise<unknown>;
      await expect(result).rejects.toThrow(InvalidArgumentError);
      await expect(result).rejects.toThrow(message);
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

  describe("one spelling: provider first, `credentialSet` in the options; the old spellings still work, deprecated, with the same result", () => {
    /** Both spellings, for a set that holds the login and one that does not: the same answer, the same refusal. */
    async function sameResult<T>(newSpelling: (set: string) => Promise<T>, oldSpelling: (set: string) => Promise<T>, compare: (value: T) => unknown = (v) => v) {
      expect(compare(await newSpelling("work"))).toEqual(compare(await oldSpelling("work")));
      const refusal = async (call: Promise<T>) => call.then(() => "resolved", (e: Error) => `${e.name}: ${e.message}`);
      const refused = await refusal(newSpelling("nope"));
      expect(refused).toMatch(/nope/);
      expect(await refusal(oldSpelling("nope"))).toBe(refused);
    }
    const ui = (key: string): AuthUi => ({ show: () => {}, choose: async () => 0, promptSecret: async () => key });

    it("authenticate(provider, { projectId, credentialSet }) and the deprecated authenticate(projectId, provider, options)", async () => {
      const key = canary("sk_test_");
      const now = await authenticate("stripe", { context, projectId: "p1", credentialSet: "a", mode: "api_key", ui: ui(key) });
      const before = await authenticate("p1", "stripe", { context, credentialSet: "b", mode: "api_key", ui: ui(key) });
      expect({ ...before, credentialSet: "a" }).toEqual(now);
      const viaClass = await new Authenticator("stripe").run({ context, credentialSet: "c", mode: "api_key", ui: ui(key) });
      const viaClassOld = await new Authenticator("stripe").run(null, { context, credentialSet: "d", mode: "api_key", ui: ui(key) });
      expect({ ...viaClassOld, credentialSet: "c" }).toEqual(viaClass);
      expect(getCredentials<{ key: string }>("stripe", { context, credentialSet: "b" }).payload.key).toBe(key);
    });

    it.runIf(requireEngine())("prepareOAuthSession(provider, { projectId }) and the deprecated (provider, projectId, options): same container name and set", async () => {
      const shapeOf = (session: { projectId: string | null; credentialSet: string; containerName: string }) => ({
        projectId: session.projectId,
        credentialSet: session.credentialSet,
        name: session.containerName.replace(/-[0-9a-f]{6}$/, ""),
      });
      const options = { context, image: TEST_IMAGE, tty: false } as const;
      {
        await using now = await prepareOAuthSession("claude", { ...options, projectId: "p1", credentialSet: "s1" });
        expect(shapeOf(now)).toEqual({ projectId: "p1", credentialSet: "s1", name: "p1-auth-claude" });
      }
      await using before = await prepareOAuthSession("claude", "p1", { ...options, credentialSet: "s1" });
      expect(shapeOf(before)).toEqual({ projectId: "p1", credentialSet: "s1", name: "p1-auth-claude" });
    });

    it("buildGoogleCredentials({ credentialSet }) and the deprecated buildGoogleCredentials(set)", async () => {
      const tokens = { access_token: canary("ya29."), refresh_token: canary("1//"), expiry_date: Date.now() + DAY };
      recordCredential(context, { credentialSet: "work", provider: "google", payload: { type: "google_oauth", clientId: "gclient-1", scopes: ["openid", "email"], tokens } });
      await sameResult((set) => buildGoogleCredentials({ context, credentialSet: set }), (set) => buildGoogleCredentials(set, { context }), (client) => client.credentials);
      expect((await buildGoogleCredentials({ context, credentialSet: "work" })).credentials.refresh_token).toBe(tokens.refresh_token);
    });

    it("buildMsalApp({ credentialSet }) and the deprecated buildMsalApp(set)", async () => {
      const tokenCache = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });
      const payload = { type: "msal", clientId: "client-1", tenantId: "tenant1", scopes: ["User.Read"], homeAccountId: "oid.tid", username: "dev@fake.test", tokenCache };
      recordCredential(context, { credentialSet: "work", provider: "msgraph", payload });
      await sameResult((set) => buildMsalApp({ context, credentialSet: set }), (set) => buildMsalApp(set, { context }), (app) => typeof app.acquireTokenSilent);
    });

    it("AuthProfile.credentialSet and the deprecated credential_set", async () => {
      storeApiKey("stripe", canary("sk_test_"), { context, credentialSet: "work" });
      await sameResult(
        (set) => new ApiKeyStrategy({ auth_type: "api_key", provider: "stripe", credentialSet: set }, { context }).getCredentials(),
        (set) => new ApiKeyStrategy({ auth_type: "api_key", provider: "stripe", credential_set: set }, { context }).getCredentials(),
      );
    });

    it("prepareAgentContainer(provider, { credentialSet }) and the deprecated { set }", async () => {
      const refusal = (options: { credentialSet?: string; set?: string }) =>
        prepareAgentContainer("claude", { context, project: "p1", ...options }).then(() => "resolved", (e: Error) => `${e.name}: ${e.message}`);
      const refused = await refusal({ credentialSet: "nope" });
      expect(refused).toMatch(/MissingCredentialsError: .*nope:claude/);
      expect(await refusal({ set: "nope" })).toBe(refused);
    });

    it("ServiceClient get/head/delete(provider, { credentialSet }) and list({ credentialSet }); the deprecated (set, provider) and list(set)", async () => {
      storeApiKey("stripe", canary("sk_test_"), { context, credentialSet: "work" });
      const service = await listeningService(context);
      try {
        const client = new ServiceClient({ socketPath: service.socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
        await sameResult((set) => client.get("stripe", { credentialSet: set }), (set) => client.get(set, "stripe"));
        await sameResult((set) => client.head("stripe", { credentialSet: set }), (set) => client.head(set, "stripe"));
        expect(await client.list({ credentialSet: "work" })).toEqual(await client.list("work"));
      } finally {
        await service.stop();
      }
    });
  });
});
