import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../src/roster/load.js";
import { authctl, canary, tempHome } from "./helpers/env.js";
import { containersNamed, ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";

/**
 * Issue 11 finding 15, the engine half: the `<engine> run` client gets an allow-listed environment,
 * so authctl's secrets (AUTHCTL_PASSPHRASE, AUTHCTL_PASSPHRASE_COMMAND, AUTHCTL_TOKEN) and the
 * user's other ones never reach it — and so never reach the login container, even when the roster
 * asks the engine to copy variables in (`-e NAME` takes NAME from the client's environment;
 * podman's `--env-host` takes all of it).
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-engine-env-");
afterAll(() => t.cleanup());
/** One for the suite: the store made by the first login is opened with it by the next. */
const PASSPHRASE = canary("pass-");

/** claude's login, printing the container's environment first, with these run args added. */
function useEnvPrintingLogin(extraRunArgs: string[], optIn = false): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "claude.yaml"), "utf8"));
  entry.oauth.command = ["sh", "-c", "env; exec fake-vendor claude instant"];
  entry.oauth.extra_run_args = [...entry.oauth.extra_run_args, ...extraRunArgs];
  if (optIn) entry.oauth.allow_unsafe_run_args = true;
  mkdirSync(join(t.home, "agents"), { recursive: true });
  writeFileSync(join(t.home, "agents", "claude.yaml"), stringify(entry));
}

async function loginWithSecretsInEnv(project: string) {
  const secrets = {
    AUTHCTL_PASSPHRASE: PASSPHRASE,
    AUTHCTL_PASSPHRASE_COMMAND: `printf %s ${canary("cmd-")}`,
    AUTHCTL_TOKEN: canary("token-"),
    GITHUB_TOKEN: canary("gh-"),
  };
  const r = await authctl(t.home, ["auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE], {
    extraEnv: secrets,
    timeout: 60_000,
  });
  const output = String(r.stdout) + String(r.stderr);
  return { r, output, secrets };
}

describe.runIf(hasEngine)("hardening: the engine never sees authctl's secrets (issue 11 #15)", () => {
  it("15: `-e AUTHCTL_PASSPHRASE` and friends in extra_run_args pass nothing into the login container", async () => {
    useEnvPrintingLogin(["-e", "AUTHCTL_PASSPHRASE", "-e", "AUTHCTL_PASSPHRASE_COMMAND", "-e", "AUTHCTL_TOKEN", "-e", "GITHUB_TOKEN"]);
    const { r, output, secrets } = await loginWithSecretsInEnv("envpass");
    expect(r.exitCode, output).toBe(0);
    expect(output).toContain("CLAUDE_CONFIG_DIR=/home/dev/.claude"); // the container's env was printed
    for (const [name, value] of Object.entries(secrets)) {
      expect(output, `${name} reached the login container`).not.toContain(value);
    }
    expect(output).not.toMatch(/^(AUTHCTL_[A-Z_]+|GITHUB_TOKEN)=/m);
    expect(containersNamed("envpass-auth-")).toEqual([]);
  });

  // docker has no --env-host: on docker this case does not exist (not registered, rather than a skip).
  const podmanOnly = ENGINE.includes("docker") ? (..._: Parameters<typeof it>) => undefined : it;
  podmanOnly("15: podman's --env-host, opted into by the roster file, copies no secret either", async () => {
    useEnvPrintingLogin(["--env-host"], true);
    const { r, output, secrets } = await loginWithSecretsInEnv("envhost");
    expect(r.exitCode, output).toBe(0);
    expect(output).toMatch(/^PATH=/m); // the host env was copied in: what was copied is what the engine got
    for (const [name, value] of Object.entries(secrets)) {
      expect(output, `${name} reached the login container`).not.toContain(value);
    }
    expect(output).not.toMatch(/^(AUTHCTL_[A-Z_]+|GITHUB_TOKEN)=/m);
  });
});
