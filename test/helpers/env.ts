import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** The `authctl` bin as `npm link` installs it: the esbuild bundle (scripts/bundle-cli.mjs). */
export const CLI = join(REPO, (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { bin: { authctl: string } }).bin.authctl);

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

/**
 * This process's environment as a test hands it on, to a child process or an in-process context:
 * no inherited passphrase or other authctl settings, but the engine under test (AUTHCTL_ENGINE).
 * AUTHCTL_STORE_KEY=file: a test never writes to the developer's OS keyring nor meets the first-run
 * passphrase question on a PTY; test/keyring.test.ts overrides it to exercise both.
 */
export function testEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (!k.startsWith("AUTHCTL_") || INHERITED_AUTHCTL.has(k))) env[k] = v;
  }
  return { ...env, AUTHCTL_STORE_KEY: "file" };
}

export function childEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...testEnv(), AUTHCTL_HOME: home, NO_COLOR: "1", ...extra };
}

export interface AuthctlRunOptions {
  /** Written to stdin (otherwise stdin is closed). */
  input?: string;
  timeout?: number;
  extraEnv?: Record<string, string>;
}

/** Runs the built `authctl` binary; never rejects, so tests assert on exitCode. stdout/stderr are strings. */
export function authctl(home: string, args: string[], options: AuthctlRunOptions = {}) {
  const { extraEnv, input, timeout } = options;
  const base = { env: childEnv(home, extraEnv), extendEnv: false, reject: false, timeout } as const;
  return input === undefined ? execa("node", [CLI, ...args], { ...base, stdin: "ignore" }) : execa("node", [CLI, ...args], { ...base, input });
}
