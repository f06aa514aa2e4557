import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { loadConfig, recordImageSetting } from "../../src/core/config.js";
import { UsageError } from "../../src/core/errors.js";
import { Authenticator } from "../../src/logins/authenticator.js";
import { declaredClis } from "../../src/logins/container/images.js";
import { baseEnv } from "../helpers/context.js";
import { ENGINE, requireEngine } from "../helpers/engine.js";
import { authctl, REPO, tempHome } from "../helpers/env.js";

/**
 * Issue 21 item 7: `$AUTHCTL_HOME/config.yaml` keeps the base `image build --base` used, so the next
 * `auth` runs that build instead of recomputing the tag without the base and pulling; a build whose
 * base is not local is refused naming --base and the script that makes one, and nothing is pulled.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-config-");
afterAll(() => t.cleanup());

const writeConfig = (home: string, text: string) => {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "config.yaml"), text);
};

describe("config.yaml (zod-checked; errors name the file and the field)", () => {
  it("a bad field is named with the file: an option-looking base, an unknown key, broken YAML", () => {
    const home = join(t.home, "bad");
    writeConfig(home, "images:\n  auth:\n    base: --privileged\n");
    expect(() => loadConfig(home)).toThrow(UsageError);
    expect(() => loadConfig(home)).toThrow(`config file ${join(home, "config.yaml")}: images.auth.base: must be an image reference`);
    writeConfig(home, "images:\n  auth:\n    bsae: localhost/x:1\n");
    expect(() => loadConfig(home)).toThrow("images.auth.bsae: unknown key");
    writeConfig(home, "images: [\n");
    expect(() => loadConfig(home)).toThrow("is not valid YAML");
  });

  it("recording a base keeps the rest of the file (comments, the other settings) and the file stays private", () => {
    const home = join(t.home, "keep");
    writeConfig(home, "# mine\nimages:\n  auth:\n    image: localhost/mine:1 # my qwen image\n");
    recordImageSetting(home, "auth", "base", "localhost/authctl-base:b1");
    const text = readFileSync(join(home, "config.yaml"), "utf8");
    expect(text).toContain("# mine");
    expect(text).toContain("# my qwen image");
    expect(loadConfig(home)).toEqual({ images: { auth: { image: "localhost/mine:1", base: "localhost/authctl-base:b1" } } });
  });
});

describe("providers says which container logins the auth image cannot run", () => {
  it("qwen and glab are flagged (with what each needs), opencode and the others are in the image", async () => {
    expect(declaredClis("auth")).toEqual(["claude", "codex", "gemini", "gh", "opencode"]);
    const json = await authctl(join(t.home, "providers"), ["providers", "--json"]);
    expect(json.exitCode, json.stderr).toBe(0);
    const byName = Object.fromEntries((JSON.parse(json.stdout) as Array<{ name: string; containerLogin: unknown }>).map((p) => [p.name, p.containerLogin]));
    expect(byName).toMatchObject({
      qwen: { cli: "qwen", inAuthImage: false },
      glab: { cli: "glab", inAuthImage: false },
      opencode: { cli: "opencode", inAuthImage: true },
      claude: { cli: "claude", inAuthImage: true },
      anthropic: null,
    });
    const plain = await authctl(join(t.home, "providers"), ["providers"]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stderr).toBe("");
    expect(plain.stdout).toMatch(/^qwen .* oauth\*/m);
    expect(plain.stdout).toMatch(/^\* qwen: its OAuth login needs the `qwen` CLI.*node >= 22.*docs\/images\.md/m);
    expect(plain.stdout).toMatch(/^\* glab: its OAuth login needs the `glab` CLI.*authctl key glab/m);
    expect(plain.stdout).toMatch(/^opencode .* oauth$/m);
    expect(plain.stdout).not.toMatch(/^\* opencode/m);
  });

  it("a user provider whose image key is not under images/ is listed (its CLI unknown: null), not a crash", async () => {
    const home = join(t.home, "own-image");
    mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
    writeFileSync(
      join(home, "agents", "mytool.yaml"),
      "name: mytool\nlabel: My tool\nkind: tool\nmodes: [oauth]\noauth:\n  command: [mytool, login]\n  container_mount: /home/dev/.mytool\n  host_dir_name: _mytool\n  image: mine\n  capture:\n    extractor: gh\n    files: [{ path: hosts.yml, format: yaml }]\n",
    );
    const r = await authctl(home, ["providers", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Array<{ name: string; containerLogin: unknown }>).find((p) => p.name === "mytool")).toMatchObject({ containerLogin: { cli: "mytool", inAuthImage: null } });
  });
});

describe.runIf(hasEngine)(`image build and auth never pull; the base image build used is what auth runs next (${ENGINE})`, () => {
  const DEFAULT_BASE = "docker.io/library/node:22-bookworm-slim";
  let base = "";
  let tag = "";

  beforeAll(async () => {
    // The documented no-registry path: the script makes the base (debootstrap) and runs `image build --base`.
    const home = join(t.home, "script");
    const env = { ...process.env, AUTHCTL_HOME: home };
    const baseRun = await execa("bash", [join(REPO, "scripts/build-auth-image.sh"), "--base-only"], { env, reject: false, stdin: "ignore", all: true });
    expect(baseRun.exitCode, baseRun.all).toBe(0);
    base = baseRun.stdout.trim().split("\n").at(-1)!;
    const build = await execa("bash", [join(REPO, "scripts/build-auth-image.sh")], { env, reject: false, stdin: "ignore", all: true });
    expect(build.exitCode, build.all).toBe(0);
    tag = build.stdout.trim().split("\n").at(-1)!;
    expect(tag).toMatch(/^localhost\/authctl-auth:[0-9a-f]{12}$/);
  }, 20 * 60_000);

  it("the script's `image build --base` recorded its base in that home's config.yaml", () => {
    expect(loadConfig(join(t.home, "script"))).toEqual({ images: { auth: { base } } });
  });

  it("the next auth (no --image) prepares its login on that very image: no rebuild without the base, no pull", async () => {
    const home = join(t.home, "script");
    using context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: home }, home });
    const shown: string[] = [];
    const ui = { show: (line: string) => shown.push(line), choose: async () => 0, promptSecret: async () => "" };
    const session = await new Authenticator("claude").prepareOAuth({ context, tty: false, ui: ui as never });
    try {
      expect(session.argv).toContain(tag);
      expect(shown.join("\n")).not.toMatch(/Building|pull/i);
    } finally {
      await session.cleanup();
    }
  }, 120_000);

  it("doctor checks the image auth would run (the recorded base's build), and names a broken config.yaml", async () => {
    const r = await authctl(join(t.home, "script"), ["doctor", "--json"], { timeout: 60_000 });
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }> }).checks;
    expect(checks.find((c) => c.name === "image")).toMatchObject({ ok: true, detail: `${tag} is in ${ENGINE}'s images` });
    const broken = join(t.home, "broken-config");
    writeConfig(broken, "images:\n  auth:\n    image: -x\n");
    const b = await authctl(broken, ["doctor", "--json"], { timeout: 60_000 });
    const image = (JSON.parse(b.stdout) as { checks: Array<{ name: string; ok: boolean; fix?: string }> }).checks.find((c) => c.name === "image");
    expect(image).toMatchObject({ ok: false, fix: expect.stringContaining(`config file ${join(broken, "config.yaml")}: images.auth.image: must be an image reference`) });
  }, 120_000);

  it("image build with no local base is refused before the engine could pull, naming --base and the script", async () => {
    const present = spawnSync(ENGINE, ["image", "inspect", DEFAULT_BASE], { stdio: "ignore" }).status === 0;
    expect(present, `${DEFAULT_BASE} is in ${ENGINE}: this test needs it absent`).toBe(false);
    const r = await authctl(join(t.home, "fresh"), ["image", "build"], { timeout: 120_000 });
    expect(r.stderr).toContain(`base image ${DEFAULT_BASE} is not in ${ENGINE}'s local images (images/auth/Containerfile's default)`);
    expect(r.stderr).toContain("authctl never pulls");
    expect(r.stderr).toContain("scripts/build-auth-image.sh --base-only");
    expect(r.stderr).toContain("authctl image build --base");
    expect(r.exitCode, r.stderr).toBe(2);
    expect(spawnSync(ENGINE, ["image", "inspect", DEFAULT_BASE], { stdio: "ignore" }).status).not.toBe(0);
  }, 150_000);

  it("the auth image's label is the Containerfile's one list, and every CLI on it is on the image's PATH (opencode too)", () => {
    const labels = spawnSync(ENGINE, ["image", "inspect", "--format", "{{json .Config.Labels}}", tag], { encoding: "utf8" });
    expect(labels.status, labels.stderr).toBe(0);
    expect((JSON.parse(labels.stdout) as Record<string, string>)["io.authctl.clis"]).toBe(declaredClis("auth")!.join(","));
    const check = 'for c in $(echo "$CLIS" | tr , " "); do command -v "$c" || exit 1; done; opencode --version';
    const run = spawnSync(ENGINE, ["run", "--rm", "--network", "none", "--user", "2000000:2000000", "-e", "HOME=/tmp", "-e", `CLIS=${declaredClis("auth")!.join(",")}`, tag, "sh", "-c", check], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("/opencode");
    expect(run.stdout.trim().split("\n").at(-1)).toBe("1.18.33");
  }, 150_000);
});
