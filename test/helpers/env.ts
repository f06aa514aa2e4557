import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type Options } from "execa";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = join(REPO, "dist/cli/main.js");

/** A fresh `$AUTHCTL_HOME` in a temp dir; `cleanup` removes it. */
export function tempHome(prefix = "authctl-test-"): { home: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const home = join(dir, "home");
  return { home, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A secret that is obviously fake and unique per test, so a leak search cannot match by chance. */
export function canary(prefix = ""): string {
  return `${prefix}CANARY${randomBytes(12).toString("hex")}`;
}

/**
 * The run's engine choice, which every child must share: with AUTHCTL_ENGINE=docker a child that
 * auto-detected podman would pass leak checks that look in docker.
 */
const INHERITED_AUTHCTL = new Set(["AUTHCTL_ENGINE"]);

/** Environment for child processes: no inherited passphrase or other authctl settings, but the run's engine; new stores use a key file. */
export function childEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (!k.startsWith("AUTHCTL_") || INHERITED_AUTHCTL.has(k))) env[k] = v;
  }
  // AUTHCTL_STORE_KEY=file: a test never writes to the developer's OS keyring nor meets the first-run
  // passphrase question on a PTY; test/keyring.test.ts overrides it to exercise both.
  return { ...env, AUTHCTL_HOME: home, NO_COLOR: "1", AUTHCTL_STORE_KEY: "file", ...extra };
}

/** Runs the built `authctl` binary; never rejects, so tests assert on exitCode. */
export function authctl(home: string, args: string[], options: Options & { extraEnv?: Record<string, string> } = {}) {
  const { extraEnv, ...rest } = options;
  return execa("node", [CLI, ...args], {
    env: childEnv(home, extraEnv),
    extendEnv: false,
    reject: false,
    ...(rest.input === undefined ? { stdin: "ignore" } : {}),
    ...rest,
  } as Options);
}
