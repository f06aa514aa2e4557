import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { baseEnv, ctxOf } from "./helpers/context.js";
import { Authctl } from "../src/context.js";
import type { AuthUi } from "../src/ui/ui.js";
import { apiKeyCommand } from "../src/logins/api-key/apiKeyCommand.js";
import { Authenticator, effectiveModes } from "../src/logins/authenticator.js";
import { getCredentials } from "../src/access/credentials.js";
import { detectEngine } from "../src/engine/index.js";
import { InterruptedError, ModeUnavailableError } from "../src/core/errors.js";
import { loadRoster } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { canary, tempHome } from "./helpers/env.js";
import { containersNamed, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { useFakeVendor } from "./helpers/roster.js";

const hasEngine = requireEngine();
const t = tempHome();
afterAll(() => t.cleanup());

describe("mode choice", () => {
  const roster = loadRoster();
  it("both modes are offered when the gate is open", () => {
    expect(effectiveModes(roster.get("claude"), {}).sort()).toEqual(["api_key", "oauth"]);
  });
  it("the gate closes OAuth", () => {
    expect(effectiveModes(roster.get("claude"), { oauthEnabled: false })).toEqual(["api_key"]);
  });
  it("no open mode says which gate closed it", () => {
    const oauthOnly = { ...roster.get("claude"), modes: ["oauth" as const] };
    expect(() => effectiveModes(oauthOnly, { oauthEnabled: false })).toThrow(ModeUnavailableError);
    expect(() => effectiveModes(oauthOnly, { oauthEnabled: false })).toThrow(/OAuth is disabled \(oauthEnabled: false\)/);
  });
  it("asking for a mode the provider lacks names what it supports", () => {
    expect(() => effectiveModes(roster.get("stripe"), { mode: "oauth" })).toThrow(/stripe supports only api_key/);
  });
  it("api-key only: the lazy image is never resolved", async () => {
    const home = tempHome();
    let resolved = false;
    using store = CredentialStore.open({ home: home.home, env: {} });
    const key = canary("sk_test_");
    const result = await new Authenticator("stripe").run(null, {
      context: ctxOf(store, roster),
      image: async () => {
        resolved = true;
        return "never";
      },
      ui: { show: () => {}, choose: async () => 0, promptSecret: async () => key },
    });
    home.cleanup();
    expect(resolved).toBe(false);
    expect(result).toMatchObject({ provider: "stripe", kind: "api_key" });
  });
});

describe.runIf(hasEngine)("library path: prepareOAuth → run argv → capture → cleanup", () => {
  it("works with a piped (non-TTY) argv and cleans up", async () => {
    useFakeVendor(t.home, "claude");
    const roster = loadRoster({ userDir: join(t.home, "agents") });
    using store = CredentialStore.open({ home: t.home, env: {} });
    const code = canary();
    await using session = await new Authenticator("claude").prepareOAuth("libproj", {
      context: ctxOf(store, roster),
      image: TEST_IMAGE,
      tty: false,
      mountsDir: join(t.home, "mounts"),
      credentialSet: "lib",
    });
    expect(session.argv).not.toContain("-t");
    expect(session.containerName).toMatch(/^libproj-auth-claude-[0-9a-f]{6}$/);
    expect(session.banner).toContain("for project: libproj");
    const run = await execa(session.argv[0]!, session.argv.slice(1), { input: code + "\n", reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(code);
    const summary = await session.capture();
    expect(summary).toMatchObject({ provider: "claude", credentialSet: "lib", kind: "oauth" });
    expect(JSON.stringify(summary)).not.toContain(code);
    expect(await session.capture()).toBe(summary);
    const stored = getCredentials<{ accessToken: string }>("claude", { credentialSet: "lib", context: ctxOf(store, roster) });
    expect(stored.payload.accessToken).toBe(`sk-ant-oat01-${code}`);
    await session.cleanup();
    await session.cleanup();
    expect(existsSync(session.authDir)).toBe(false);
    expect(containersNamed("libproj-auth-")).toEqual([]);
  });

  it("an AbortSignal stops a login at any point: InterruptedError, no container, no temp dir, nothing stored", async () => {
    useFakeVendor(t.home, "claude");
    const tmp = mkdtempSync(join(tmpdir(), "authctl-abort-"));
    const context = new Authctl({ env: { ...baseEnv(), TMPDIR: tmp }, home: t.home });
    const login = (signal: AbortSignal, project: string, ui: Partial<AuthUi> = {}) =>
      new Authenticator("claude").run(project, {
        context,
        mode: "oauth",
        image: TEST_IMAGE,
        tty: false,
        credentialSet: project,
        signal,
        ui: { show: () => {}, choose: async () => 0, promptSecret: async () => "", ...ui },
      });
    // Aborted before the login starts (prepare stops before making anything that outlives it).
    await expect(login(AbortSignal.abort(new InterruptedError("SIGTERM")), "abortearly")).rejects.toThrow(/interrupted by SIGTERM/);
    // Aborted as the container starts (the banner is shown right before the engine runs).
    const controller = new AbortController();
    const banner = (text: string) => void (text.includes("for project: abortrun") && controller.abort(new InterruptedError("SIGINT")));
    await expect(login(controller.signal, "abortrun", { show: banner })).rejects.toBeInstanceOf(InterruptedError);
    for (const project of ["abortearly", "abortrun"]) {
      expect(containersNamed(`${project}-auth-`)).toEqual([]);
      expect(context.store().info(project, "claude")).toBeUndefined();
    }
    expect(readdirSync(tmp)).toEqual([]);
    context.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("apiKeyCommand writes the key into the tool's config inside a container, never via argv", async () => {
    // gemini keeps the printf-template path; codex uses its own `login --with-api-key` (test/real-image.test.ts).
    const engine = await detectEngine(process.env);
    const gemini = loadRoster().get("gemini");
    const dir = mkdtempSync(join(tmpdir(), "authctl-apikey-"));
    await execa("chown", ["1000:1000", dir]);
    const key = canary("AIza");
    const argv = apiKeyCommand(gemini.api_key!);
    expect(argv.join(" ")).not.toContain(key);
    const r = await execa(engine.binary, ["run", "--rm", "-i", "-v", `${dir}:/home/dev/.gemini:Z`, TEST_IMAGE, ...argv], { input: key + "\n", reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("gemini API key saved");
    expect(r.stdout).not.toContain(key);
    expect(readFileSync(join(dir, ".env"), "utf8")).toBe(`GEMINI_API_KEY=${key}\n`);
    rmSync(dir, { recursive: true, force: true });
  });
});
