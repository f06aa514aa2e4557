import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getCredentials } from "../src/access/credentials.js";
import { loadRoster } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { auditPath, readAudit } from "../src/store/audit.js";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { ctxOf } from "./helpers/context.js";
import { containersNamed, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { runInPty } from "./helpers/pty.js";
import { useFakeVendor } from "./helpers/roster.js";
import { waitForChild } from "./helpers/processes.js";

const hasEngine = requireEngine();
const t = tempHome();
const tmp = join(t.home, "..", "tmp");
const outputs: string[] = [];
const canaries: string[] = [];

beforeAll(() => mkdirSync(tmp, { recursive: true }));
afterAll(() => t.cleanup());

function secretCode(): string {
  const c = canary();
  canaries.push(c);
  return c;
}

function readStored<T>(provider: string, credentialSet: string) {
  using store = CredentialStore.open({ home: t.home, env: {} });
  return getCredentials<T>(provider, { credentialSet, context: ctxOf(store, loadRoster({ userDir: join(t.home, "agents") })) }).payload;
}

/** Runs `authctl auth` in a pseudo-terminal and answers the fake vendor's paste-code prompt. */
async function loginInPty(provider: "claude" | "codex" | "gemini" | "gh", project: string, code: string, extra: string[] = []) {
  const run = runInPty(["node", CLI, "auth", provider, "--project", project, "--mode", "oauth", "--image", TEST_IMAGE, ...extra], childEnv(t.home, { TMPDIR: tmp }));
  await run.waitFor(/Paste code here:\s*$/m);
  run.type(code + "\r");
  const result = await run.child;
  outputs.push(run.output());
  return { exitCode: result.exitCode, output: run.output() };
}

function assertNothingLeft(project: string) {
  expect(containersNamed(`${project}-auth-`)).toEqual([]);
  expect(readdirSync(tmp)).toEqual([]);
}

describe.runIf(hasEngine)("authctl auth <provider> in a real container", () => {
  const expectations = {
    claude: (p: any, code: string) => expect(p.accessToken).toBe(`sk-ant-oat01-${code}`),
    codex: (p: any, code: string) => expect(p.refreshToken).toBe(`rt_${code}`),
    gemini: (p: any, code: string) => expect(p.accessToken).toBe(`ya29.${code}`),
    gh: (p: any, code: string) => expect(p.accessToken).toBe(`gho_${code}`),
  } as const;

  for (const provider of ["claude", "codex", "gemini", "gh"] as const) {
    it(`${provider}: captures the vendor's file, stores it encrypted, leaves nothing behind`, async () => {
      useFakeVendor(t.home, provider);
      const code = secretCode();
      const project = `p${provider}`;
      const { exitCode, output } = await loginInPty(provider, project, code);
      expect(output).toMatch(/login for project: p/);
      expect(exitCode, output).toBe(0);
      expect(output).toContain(`Stored ${project}:${provider} (oauth`);
      const payload = readStored<any>(provider, project);
      expect(payload.type).toBe("oauth");
      expectations[provider](payload, code);
      const audited = readAudit(auditPath(t.home)).filter((e) => e.target === `${project}:${provider}`);
      expect(audited.map((e) => [e.op, e.kind])).toEqual([["captured", "oauth"]]);
      expect(readFileSync(auditPath(t.home), "utf8")).not.toContain(code);
      const shown = await authctl(t.home, ["creds", "show", `${project}:${provider}`, "--json"]);
      outputs.push(String(shown.stdout), String(shown.stderr));
      const info = JSON.parse(String(shown.stdout));
      expect(info.kind).toBe("oauth");
      if (provider !== "gh") expect(new Date(info.expiresAt).getTime()).toBeGreaterThan(Date.now());
      assertNothingLeft(project);
      // Default shared mount: a phantom marker, never the token.
      const shared = join(t.home, "mounts", project, `_${provider}-config`);
      expect(readFileSync(join(shared, "authctl-phantom.json"), "utf8")).not.toContain(code);
    });
  }

  it("--expose-token writes the real vendor file (0600) and merges post-capture state", async () => {
    useFakeVendor(t.home, "claude");
    const code = secretCode();
    const { exitCode, output } = await loginInPty("claude", "pexpose", code, ["--expose-token"]);
    expect(exitCode, output).toBe(0);
    const shared = join(t.home, "mounts", "pexpose", "_claude-config");
    const file = join(shared, ".credentials.json");
    expect(JSON.parse(readFileSync(file, "utf8")).claudeAiOauth.accessToken).toBe(`sk-ant-oat01-${code}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(shared, ".claude.json"), "utf8"))).toMatchObject({ hasCompletedOnboarding: true });
    assertNothingLeft("pexpose");
  });

  const hostile: Array<[string, RegExp]> = [
    ["badformat", /unrecognised claude credential file .*\.credentials\.json/],
    ["invalidjson", /unrecognised claude credential file/],
    ["symlink", /symlink/],
    ["symlinkhost", /symlink/],
    ["fifo", /not a regular file/],
    ["huge", /over the 1 MiB limit/],
    ["nonzero", /exited with status 3; nothing was stored/],
    ["nofile", /without a credential file/],
  ];

  describe("hostile or failed logins are refused and keep the previous credential", () => {
    let goodCode = "";
    beforeAll(async () => {
      useFakeVendor(t.home, "claude");
      goodCode = secretCode();
      const first = await loginInPty("claude", "phostile", goodCode);
      expect(first.exitCode, first.output).toBe(0);
    });

    for (const [variant, message] of hostile) {
      it(variant, async () => {
        useFakeVendor(t.home, "claude", variant);
        const { exitCode, output } = await loginInPty("claude", "phostile", secretCode());
        expect(exitCode, output).toBe(1);
        expect(output).toMatch(message);
        expect(output).not.toMatch(/root:x:0:0/);
        expect(output).not.toMatch(/\n\s+at .*\.js:\d+/);
        expect(readStored<any>("claude", "phostile").accessToken).toBe(`sk-ant-oat01-${goodCode}`);
        assertNothingLeft("phostile");
      });
    }
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} during the login leaves no container and no temp dir, exit 130`, async () => {
      useFakeVendor(t.home, "claude");
      const project = `psig${signal.toLowerCase()}`;
      const run = runInPty(["node", CLI, "auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE], childEnv(t.home, { TMPDIR: tmp }));
      await run.waitFor(/Paste code here:\s*$/m);
      expect(containersNamed(`${project}-auth-`)).toEqual([expect.stringMatching(new RegExp(`^${project}-auth-claude-[0-9a-f]{6}$`))]);
      process.kill(await waitForChild(run.child.pid!, `${basename(CLI)} auth`), signal);
      const result = await run.child;
      expect(result.exitCode, run.output()).toBe(130);
      assertNothingLeft(project);
    });
  }

  it("session prepare → run argv → capture → cleanup (the JSON frontend path)", async () => {
    useFakeVendor(t.home, "gh");
    const env = { TMPDIR: tmp };
    const prep = await authctl(t.home, ["session", "prepare", "gh", "--project", "pfront", "--image", TEST_IMAGE, "--json"], { extraEnv: env });
    outputs.push(String(prep.stdout), String(prep.stderr));
    expect(prep.exitCode, String(prep.stderr)).toBe(0);
    const session = JSON.parse(String(prep.stdout));
    expect(session).toMatchObject({ containerName: expect.stringMatching(/^pfront-auth-gh-[0-9a-f]{6}$/), title: "GitHub CLI login" });
    expect(session.argv).toEqual(expect.arrayContaining(["run", "--rm", "-i", "-t", "--name", session.containerName, TEST_IMAGE]));
    expect(session.argv).toEqual(expect.arrayContaining(["--label", `io.authctl.session=${session.containerName}`]));
    expect(session.argv.join(" ")).toContain(`${session.authDir}:/home/dev/.config/gh:Z`);
    expect(existsSync(session.authDir)).toBe(true);

    const code = secretCode();
    const run = runInPty(session.argv, childEnv(t.home));
    await run.waitFor(/Paste code here:\s*$/m);
    run.type(code + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    outputs.push(run.output());

    const cap = await authctl(t.home, ["session", "capture", session.id, "--json"]);
    outputs.push(String(cap.stdout), String(cap.stderr));
    expect(cap.exitCode, String(cap.stderr)).toBe(0);
    expect(JSON.parse(String(cap.stdout))).toMatchObject({ provider: "gh", credentialSet: "pfront", kind: "oauth" });
    expect(readStored<any>("gh", "pfront").accessToken).toBe(`gho_${code}`);
    // capture is idempotent
    expect((await authctl(t.home, ["session", "capture", session.id, "--json"])).exitCode).toBe(0);

    // With prepare's TMPDIR: cleanup removes login dirs only under its own temp root.
    const clean = await authctl(t.home, ["session", "cleanup", session.id], { extraEnv: env });
    expect(clean.exitCode, String(clean.stderr)).toBe(0);
    expect(existsSync(session.authDir)).toBe(false);
    expect((await authctl(t.home, ["session", "cleanup", session.id])).exitCode).toBe(0);
    const gone = await authctl(t.home, ["session", "capture", session.id]);
    expect(gone.exitCode).toBe(2);
    expect(String(gone.stderr)).toMatch(/no session/);
    assertNothingLeft("pfront");
  });

  it("a missing engine is exit 4 naming podman and docker", async () => {
    const r = await authctl(t.home, ["auth", "claude", "--mode", "oauth", "--image", TEST_IMAGE], { extraEnv: { AUTHCTL_ENGINE: "/nonexistent/podman" } });
    expect(r.exitCode).toBe(4);
    expect(String(r.stderr)).toMatch(/podman/);
    expect(String(r.stderr)).toMatch(/docker/);
  });

  it("no output of any run contained a canary", () => {
    const all = outputs.join("\n");
    for (const c of canaries) expect(all).not.toContain(c);
  });
});
