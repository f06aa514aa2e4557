import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModeUnavailableError } from "../../src/core/errors.js";
import { apiBackend } from "../../src/engine/api.js";
import { cliBackend } from "../../src/engine/cli.js";
import { detectEngine } from "../../src/engine/index.js";
import { prepareOAuthSession } from "../../src/logins/container/session.js";
import { loadRoster } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { ctxOf, baseEnv } from "../helpers/context.js";
import { ENGINE, TEST_IMAGE, containersNamed, requireEngine } from "../helpers/engine.js";
import { authctl, tempHome } from "../helpers/env.js";

/**
 * Issue 21 item 7: an image that says which CLIs it carries (io.authctl.clis) is checked before a
 * login container starts, so a provider whose CLI is missing is named with the way out instead of
 * failing inside runc ("executable file not found", exit 125). The image is a real one built here,
 * FROM the local test image with that label and no qwen or glab: nothing is pulled.
 */
const hasEngine = requireEngine();
const IMAGE = `localhost/authctl-test-nocli:${process.pid}`;
const t = tempHome("authctl-clis-");
const ctxDir = mkdtempSync(join(tmpdir(), "authctl-nocli-ctx-"));

beforeAll(() => {
  if (!hasEngine) return;
  writeFileSync(join(ctxDir, "Containerfile"), `FROM ${TEST_IMAGE}\nLABEL io.authctl.clis=claude,codex,gemini,gh\n`);
  const build = spawnSync(ENGINE, ["build", ...(ENGINE.includes("podman") ? ["--pull=never"] : []), "-f", join(ctxDir, "Containerfile"), "-t", IMAGE, ctxDir], { encoding: "utf8", timeout: 120_000 });
  expect(build.status, build.stderr).toBe(0);
}, 180_000);

afterAll(() => {
  if (hasEngine) spawnSync(ENGINE, ["rmi", "-f", IMAGE], { stdio: "ignore", timeout: 60_000 });
  rmSync(ctxDir, { recursive: true, force: true });
  t.cleanup();
});

describe.runIf(hasEngine)(`auth checks the image's CLI label before starting a container (${ENGINE})`, () => {
  it("auth qwen with an image without qwen: exit 1 naming the CLI, the image and how to get one; no container starts", async () => {
    const r = await authctl(t.home, ["auth", "qwen", "--image", IMAGE], { timeout: 120_000 });
    expect(r.stderr).toContain("`qwen` CLI");
    expect(r.stderr).toContain(`image ${IMAGE} does not have (its io.authctl.clis label lists claude, codex, gemini, gh)`);
    expect(r.stderr).toContain("node >= 22");
    expect(r.stderr).toContain("authctl image build --base");
    expect(r.stderr).toContain("authctl auth qwen --image <ref>");
    expect(r.stderr).not.toMatch(/executable file not found|exit(ed)? (status|code)? ?12[5-7]/i);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(containersNamed("auth-qwen")).toEqual([]);
  });

  it("config.yaml's images.auth.image is what auth runs when no --image is given, and its label is checked the same way", async () => {
    const home = join(t.home, "configured");
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(join(home, "config.yaml"), `images:\n  auth:\n    image: ${IMAGE}\n`);
    const r = await authctl(home, ["auth", "qwen"], { timeout: 120_000 });
    expect(r.stderr).toContain(`\`qwen\` CLI, which image ${IMAGE} does not have`);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(containersNamed("auth-qwen")).toEqual([]);
  });

  it("glab's refusal says its CLI is on neither npm nor Debian 12 and offers a token instead (library: ModeUnavailableError)", async () => {
    const store = CredentialStore.open({ home: join(t.home, "lib"), env: baseEnv() });
    try {
      const attempt = prepareOAuthSession("glab", { context: ctxOf(store, loadRoster()), image: IMAGE, tty: false });
      await expect(attempt).rejects.toBeInstanceOf(ModeUnavailableError);
      await expect(attempt).rejects.toThrow(/`glab` CLI, which image .* does not have .*neither npm nor Debian 12.*authctl key glab/);
    } finally {
      store.close();
    }
  });

  it("a CLI the label lists goes ahead to a prepared session (the check refuses only what is missing)", async () => {
    const store = CredentialStore.open({ home: join(t.home, "ok"), env: baseEnv() });
    try {
      const session = await prepareOAuthSession("gh", { context: ctxOf(store, loadRoster()), image: IMAGE, tty: false });
      expect(session.argv).toContain(IMAGE);
      await session.cleanup();
    } finally {
      store.close();
    }
  });

  it("the API socket and the engine CLI read the same labels (and no image is undefined, not {})", async () => {
    const engine = await detectEngine(baseEnv());
    const backends = [cliBackend(engine), ...(engine.socketPath ? [apiBackend(engine.socketPath)] : [])];
    for (const backend of backends) {
      expect(await backend.imageLabels(IMAGE)).toMatchObject({ "io.authctl.clis": "claude,codex,gemini,gh" });
      expect(await backend.imageLabels(`${IMAGE}-missing`)).toBeUndefined();
    }
    expect(backends.length, `${ENGINE} has no API socket here: only the CLI path was read`).toBe(2);
  });
});
