import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRunArgv, containerUserFor, detectEngine, type Engine } from "../src/engine/index.js";
import { apiKeyCommand } from "../src/logins/api-key/apiKeyCommand.js";
import { prepareOAuthSession, type AuthSession } from "../src/logins/container/session.js";
import { loadRoster } from "../src/roster/load.js";
import { imageUserOf } from "../src/roster/schema.js";
import { CredentialStore } from "../src/store/store.js";
import { authImage } from "./helpers/auth-image.js";
import { ctxOf } from "./helpers/context.js";
import { authctl, canary, REPO, tempHome } from "./helpers/env.js";
import { containersNamed, requireEngine } from "./helpers/engine.js";
import { runInPty } from "./helpers/pty.js";

/**
 * Issue 7.3/7.4: the REAL auth image (images/auth, built from a local Debian 12 base by
 * scripts/build-auth-image.sh; nothing pulled) with the real vendor CLIs, run through the argv a
 * prepared session hands out, with its mount. AUTHCTL_AUTH_IMAGE names an already built image
 * instead (e.g. one built FROM the public node image).
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
// The build needs root (debootstrap); CI runs as root, so there a missing image is a failure, not a skip.
const canRun = hasEngine && (isRoot || Boolean(process.env.AUTHCTL_AUTH_IMAGE) || process.env.CI === "true");
if (hasEngine && !canRun) console.warn("skipping the real-image tests: building the image needs root (or set AUTHCTL_AUTH_IMAGE)");

/** Pinned in images/auth/Containerfile; a bump there must show up here. */
const VERSIONS = { claude: "2.1.197", codex: "0.169.0", gemini: "0.61.0", gh: "2.23.0" };

const t = tempHome("authctl-real-");
let image = "";
let engine: Engine;
const roster = loadRoster();
/** What each CLI printed inside its session, for the closing note (and a failing test's message). */
const printed: Record<string, string> = {};
/** The uid `id -u` shows inside a login container: the sandbox id on a rootful engine run by root. */
const insideUid = () => containerUserFor(engine, imageUserOf(roster.get("claude"))).owner ?? 1000;

beforeAll(async () => {
  if (!canRun) return;
  engine = await detectEngine(process.env);
  if (process.env.AUTHCTL_AUTH_IMAGE) {
    image = process.env.AUTHCTL_AUTH_IMAGE;
    return;
  }
  image = await authImage();
}, 20 * 60_000);

afterAll(() => {
  if (Object.keys(printed).length) console.log(`real vendor CLIs in ${image}:\n${JSON.stringify(printed, null, 2)}`);
  t.cleanup();
});

async function session(provider: string, project: string, store: CredentialStore, exposeToken = false): Promise<AuthSession> {
  return prepareOAuthSession(provider, project, {
    context: ctxOf(store, roster),
    image,
    tty: false,
    mountsDir: join(t.home, `mounts-${project}`),
    credentialSet: project,
    exposeToken,
  });
}

/** Terminal output as plain words: escapes (colours, cursor moves used instead of spaces) become spaces. */
const screenText = (raw: string) =>
  raw.replace(/\x1b(?:\[[0-9;?<>]*[A-Za-z]|\][^\x07]*\x07|[78=>])/g, " ").replace(/\s+/g, " ");

/** Runs claude with a TTY until its first screen is up; returns that screen as plain words. */
async function firstClaudeScreen(argv: string[], name: string): Promise<string> {
  const pty = runInPty(argv, { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "xterm" });
  const firstScreen = /trust this folder|Welcome to Claude Code|Unable to connect/i;
  try {
    const started = Date.now();
    while (!firstScreen.test(screenText(pty.output()))) {
      if (pty.child.exitCode !== null) throw new Error(`claude exited first: ${screenText(pty.output()).slice(-400)}`);
      if (Date.now() - started > 90_000) throw new Error(`no first screen from claude: ${screenText(pty.output()).slice(-400)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return screenText(pty.output());
  } finally {
    pty.child.kill("SIGKILL");
    await pty.child;
    await execa(engine.binary, ["rm", "-f", ...(engine.name === "podman" ? ["-t", "0"] : []), name], { reject: false });
  }
}

/** The session's own argv with the vendor's login command swapped for `script` (same engine flags, mount, user, name). */
function argvRunning(s: AuthSession, provider: string, script: string): string[] {
  const command = roster.get(provider).oauth!.command;
  expect(s.argv.slice(-command.length)).toEqual(command);
  return [...s.argv.slice(0, -command.length), "sh", "-c", script];
}

describe.runIf(canRun)("the real vendor CLIs start in the real image, as dev, with the session's mount (issue 7.3)", () => {
  const cases: Array<[provider: string, status: string, expected: RegExp]> = [
    ["claude", "claude --version; claude auth status", new RegExp(`${VERSIONS.claude} \\(Claude Code\\)[\\s\\S]*"loggedIn": false`)],
    ["codex", "codex --version; codex login status", new RegExp(`codex-cli ${VERSIONS.codex}[\\s\\S]*Not logged in`)],
    ["gh", "gh --version; gh auth status", new RegExp(`gh version ${VERSIONS.gh}[\\s\\S]*You are not logged into any GitHub hosts`)],
    ["gemini", "gemini --version", new RegExp(`^${VERSIONS.gemini.replace(/\./g, "\\.")}$`, "m")],
  ];
  it.each(cases)("%s", async (provider, status, expected) => {
    using store = CredentialStore.open({ home: t.home, env: {} });
    await using s = await session(provider, `real${provider}`, store);
    const mount = roster.get(provider).oauth!.container_mount;
    const script = `id -u; touch ${mount}/.authctl-probe && echo "mount writable: ${mount}"; ${status} 2>&1; true`;
    const run = await execa(s.argv[0]!, argvRunning(s, provider, script).slice(1), { reject: false, stdin: "ignore", all: true, timeout: 120_000 });
    printed[provider] = run.all.trim();
    expect(run.exitCode, run.all).toBe(0);
    const [user, mounted] = run.stdout.split("\n");
    expect(user).toBe(String(insideUid()));
    expect(mounted).toBe(`mount writable: ${mount}`);
    expect(run.stdout).toMatch(expected);
    // The probe landed in the session's host dir: the container saw the mount, not the image's dir.
    expect(readFileSync(join(s.authDir, ".authctl-probe"), "utf8")).toBe("");
    await s.cleanup();
    expect(containersNamed(s.containerName)).toEqual([]);
  });
});

describe.runIf(canRun)("vendor details with the real CLIs (issue 7.4)", () => {
  it("claude skips its onboarding wizard with our shared mount (CLAUDE_CONFIG_DIR → the mount's .claude.json); without it, the wizard", async () => {
    using store = CredentialStore.open({ home: t.home, env: {} });
    const s = await session("claude", "onboard", store);
    writeFileSync(join(s.authDir, ".credentials.json"), JSON.stringify({ claudeAiOauth: { accessToken: canary("sk-ant-oat01-"), expiresAt: 1 } }));
    const { sharedDir } = await s.capture();
    await s.cleanup();

    const oauth = roster.get("claude").oauth!;
    const claudeArgv = (name: string, extraRunArgs: readonly string[], command = ["claude"]) =>
      buildRunArgv(engine, {
        image,
        command,
        hostDir: sharedDir,
        containerDir: oauth.container_mount,
        containerName: name,
        extraRunArgs,
        tty: true,
        user: containerUserFor(engine, imageUserOf(roster.get("claude"))),
      });

    const withMountName = `onboard-real-${process.pid}`;
    const withMount = await firstClaudeScreen(claudeArgv(withMountName, oauth.extra_run_args), withMountName);
    printed["claude first screen (shared mount)"] = withMount.trim().slice(0, 300);
    expect(withMount).toMatch(/trust this folder/i);
    expect(withMount).not.toMatch(/Welcome to Claude Code/i);

    // The control: the same mount with CLAUDE_CONFIG_DIR unset (the image sets it too): claude then
    // reads ~/.claude.json at HOME's root, outside the mount, and shows the first-run wizard, whose
    // connection check (which ignores ANTHROPIC_BASE_URL) fails offline.
    const withoutName = `onboard-ctl-${process.pid}`;
    const unset = ["sh", "-c", "unset CLAUDE_CONFIG_DIR; exec claude"];
    const without = await firstClaudeScreen(claudeArgv(withoutName, [], unset), withoutName);
    printed["claude first screen (CLAUDE_CONFIG_DIR unset)"] = without.trim().slice(0, 300);
    expect(without).toMatch(/Welcome to Claude Code/i);
  }, 240_000);

  it("the shared mount is readable by the image's dev user (rootful: handed to uid 1000 inside a 0700 parent)", async () => {
    using store = CredentialStore.open({ home: t.home, env: {} });
    const s = await session("claude", "sharedperm", store, true);
    const token = canary("sk-ant-oat01-");
    const credential = { accessToken: token, refreshToken: canary("sk-ant-ort01-"), expiresAt: Date.now() + 3_600_000, scopes: ["user:inference"], subscriptionType: "pro" };
    writeFileSync(join(s.authDir, ".credentials.json"), JSON.stringify({ claudeAiOauth: credential }));
    const { sharedDir } = await s.capture();
    await s.cleanup();
    const argv = buildRunArgv(engine, {
      image,
      command: ["sh", "-c", "id -u; test -r /home/dev/.claude/.credentials.json && echo credentials-readable; claude auth status"],
      hostDir: sharedDir,
      containerDir: "/home/dev/.claude",
      containerName: `sharedperm-${process.pid}`,
      extraRunArgs: roster.get("claude").oauth!.extra_run_args,
      tty: false,
      user: containerUserFor(engine, imageUserOf(roster.get("claude"))),
    });
    const run = await execa(argv[0]!, argv.slice(1), { reject: false, stdin: "ignore", all: true, timeout: 120_000 });
    expect(run.all).not.toContain(token);
    expect(run.stdout.split("\n").slice(0, 2)).toEqual([String(insideUid()), "credentials-readable"]);
    // claude read the exposed credential (an unexpired canary, checked offline): logged in via claude.ai.
    expect(run.stdout).toMatch(/"loggedIn": true/);
    printed["claude auth status (exposed shared mount)"] = run.stdout.split("\n").slice(2).join(" ").replace(/\s+/g, " ");
  });

  it("codex API key through `codex login --with-api-key` (key on stdin, never in argv): the real codex then reports it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "authctl-codexkey-"));
    try {
      await execa("chown", ["1000:1000", dir], { reject: false });
      const key = canary("sk-proj-");
      const argv = apiKeyCommand(roster.get("codex").api_key!);
      expect(argv.join(" ")).not.toContain(key);
      const login = await execa(engine.binary, ["run", "--rm", "-i", "-v", `${dir}:/home/dev/.codex:Z`, image, ...argv], {
        input: key + "\n",
        reject: false,
        all: true,
      });
      expect(login.exitCode, login.all).toBe(0);
      expect(login.all).not.toContain(key);
      expect(login.stdout).toContain("codex API key saved");
      expect(JSON.parse(readFileSync(join(dir, "auth.json"), "utf8"))).toMatchObject({ OPENAI_API_KEY: key });
      const status = await execa(engine.binary, ["run", "--rm", "-v", `${dir}:/home/dev/.codex:Z`, image, "codex", "login", "status"], {
        reject: false,
        all: true,
        stdin: "ignore",
      });
      printed["codex login status (after --with-api-key)"] = status.all.replace(key, "<key>").trim();
      expect(status.all).toMatch(/API key configured/);
      expect(status.all).not.toContain(key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gh logged in to github.com and an Enterprise host in one set: both survive capture, show in `creds list`, and the real gh sees both", async () => {
    using store = CredentialStore.open({ home: t.home, env: {} });
    const s = await session("gh", "twohosts", store, true);
    const dotcom = canary("gho_");
    const enterprise = canary("gho_");
    // What gh writes with --insecure-storage after logging in to both hosts (the newer users: layout).
    const hostsYml = [
      "github.com:",
      "    git_protocol: https",
      "    users:",
      "        octocat:",
      `            oauth_token: ${dotcom}`,
      `    oauth_token: ${dotcom}`,
      "    user: octocat",
      "ghe.corp.example:",
      "    git_protocol: https",
      `    oauth_token: ${enterprise}`,
      "    user: worker",
      "",
    ].join("\n");
    writeFileSync(join(s.authDir, "hosts.yml"), hostsYml);
    const { sharedDir } = await s.capture();
    await s.cleanup();
    store.close();

    const list = await authctl(t.home, ["creds", "list", "--set", "twohosts"]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toContain(`github.com gho…${dotcom.slice(-4)}`);
    expect(list.stdout).toContain(`ghe.corp.example gho…${enterprise.slice(-4)}`);
    expect(list.stdout + list.stderr).not.toContain(dotcom);

    const argv = buildRunArgv(engine, {
      image,
      command: ["gh", "auth", "status"],
      hostDir: sharedDir,
      containerDir: "/home/dev/.config/gh",
      containerName: `twohosts-${process.pid}`,
      tty: false,
      user: containerUserFor(engine, imageUserOf(roster.get("claude"))),
    });
    // No network in CI: gh cannot verify the tokens, but it must list both hosts it read.
    const status = await execa(argv[0]!, argv.slice(1), { reject: false, all: true, stdin: "ignore", timeout: 120_000 });
    printed["gh auth status (two hosts, exposed)"] = status.all.replace(dotcom, "<token>").replace(enterprise, "<token>").trim();
    expect(status.all).toContain("github.com");
    expect(status.all).toContain("ghe.corp.example");
    expect(status.all).not.toContain(dotcom);
  }, 180_000);
});

describe.runIf(hasEngine)("authctl image build --base", () => {
  it("a base missing locally is named with how to make one, before the engine could try a registry", async () => {
    const r = await authctl(t.home, ["image", "build", "auth", "--base", "localhost/authctl-no-such-base:missing"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("base image localhost/authctl-no-such-base:missing is not in");
    expect(r.stderr).toContain("scripts/build-auth-image.sh");
  });

  it("an option-looking --base is refused as a usage error", async () => {
    const r = await authctl(t.home, ["image", "build", "auth", "--base=--privileged"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--base "--privileged" is not an image reference');
  });
});
