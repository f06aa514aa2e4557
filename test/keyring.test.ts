import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { runInPty } from "./helpers/pty.js";

/**
 * The OS keyring as the store key's home, against a REAL gnome-keyring: each authctl process runs
 * in its own `dbus-run-session` whose gnome-keyring-daemon unlocks the same login keyring (same
 * HOME, same password), so a second session proves the key outlives the process that wrote it.
 */
const CI = process.env.CI === "true";
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const keyringInstalled = has("gnome-keyring-daemon") && has("dbus-run-session");
// In CI a missing keyring fails this file (scripts/setup-keyring.sh installs it); locally it skips.
if (CI && !keyringInstalled) throw new Error("CI=true but gnome-keyring-daemon or dbus-run-session is missing: run scripts/setup-keyring.sh");

/** A session bus address where nothing answers: what a headless server or container looks like. */
const NO_SECRET_SERVICE = { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/authctl-test-bus", AUTHCTL_STORE_KEY: "auto" };
const OPENAI_KEY_SHA256 = `process.stdout.write(require("crypto").createHash("sha256").update(process.env.OPENAI_API_KEY ?? "").digest("hex"))`;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

let t: ReturnType<typeof tempHome>;
let desktop: Record<string, string>;
beforeEach(() => {
  t = tempHome("authctl-keyring-");
  const dir = join(t.home, "..", "desktop");
  mkdirSync(join(dir, "run"), { recursive: true, mode: 0o700 });
  // The keyring's files and control socket live under this test's own HOME and runtime dir.
  desktop = { HOME: dir, XDG_RUNTIME_DIR: join(dir, "run"), XDG_DATA_HOME: join(dir, "share"), AUTHCTL_STORE_KEY: "auto" };
});
afterEach(() => t.cleanup());

/** `authctl args` inside a fresh session bus with an unlocked gnome-keyring. */
function inKeyringSession(args: string[], input?: string) {
  const script = 'echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$@"';
  return execa("dbus-run-session", ["--", "sh", "-c", script, "sh", "node", CLI, ...args], {
    env: childEnv(t.home, desktop),
    extendEnv: false,
    reject: false,
    ...(input === undefined ? { stdin: "ignore" } : { input }),
  });
}

const printed = (r: { stdout?: unknown; stderr?: unknown }) => `${String(r.stdout)}\n${String(r.stderr)}`;

describe.runIf(keyringInstalled)("OS keyring (real gnome-keyring over Secret Service)", () => {
  it("keeps a new store's key in the keyring, not a key file, and a later process reads it", async () => {
    const secret = canary("sk-");
    const stored = await inKeyringSession(["key", "openai", "--stdin"], secret);
    expect(stored.exitCode, printed(stored)).toBe(0);
    expect(existsSync(join(t.home, "store.key"))).toBe(false);

    const status = await inKeyringSession(["status", "--json"]);
    expect(status.exitCode, printed(status)).toBe(0);
    expect(JSON.parse(String(status.stdout))).toMatchObject({ keyKind: "keyring", unlockedBy: "keyring", lockProblem: null });

    const used = await inKeyringSession(["run", "--", "node", "-e", OPENAI_KEY_SHA256]);
    expect(used.exitCode, printed(used)).toBe(0);
    expect(String(used.stdout)).toBe(sha256(secret));
    for (const r of [stored, status, used]) expect(printed(r)).not.toContain(secret);
  });

  it("without its keyring the store says so and stays locked, losing nothing; with it back, everything is there", async () => {
    const secret = canary("sk-");
    expect((await inKeyringSession(["key", "openai", "--stdin"], secret)).exitCode).toBe(0);

    const locked = await authctl(t.home, ["status", "--json"], { extraEnv: { ...desktop, ...NO_SECRET_SERVICE } });
    expect(locked.exitCode).toBe(1);
    expect(JSON.parse(String(locked.stdout)).lockProblem).toMatch(/OS keyring .*did not answer.*unlock your desktop keyring/);
    expect(printed(locked)).not.toContain(secret);

    const refused = await authctl(t.home, ["run", "--", "node", "-e", OPENAI_KEY_SHA256], { extraEnv: { ...desktop, ...NO_SECRET_SERVICE } });
    expect(refused.exitCode).not.toBe(0);
    expect(String(refused.stderr)).toMatch(/OS keyring/);

    const back = await inKeyringSession(["run", "--", "node", "-e", OPENAI_KEY_SHA256]);
    expect(String(back.stdout)).toBe(sha256(secret));
  });

  it("a store created with the key file keeps using it once a keyring appears", async () => {
    const secret = canary("sk-");
    const stored = await authctl(t.home, ["key", "openai", "--stdin"], { input: secret, extraEnv: { ...desktop, ...NO_SECRET_SERVICE } });
    expect(stored.exitCode, printed(stored)).toBe(0);
    expect(existsSync(join(t.home, "store.key"))).toBe(true);

    const status = await inKeyringSession(["status", "--json"]);
    expect(JSON.parse(String(status.stdout))).toMatchObject({ keyKind: "keyfile", unlockedBy: "key file" });
  });

  it("a passphrase in the environment still wins over the keyring for a new store", async () => {
    desktop.AUTHCTL_PASSPHRASE = "correct horse";
    const created = await inKeyringSession(["key", "openai", "--stdin"], canary("sk-"));
    expect(created.exitCode, printed(created)).toBe(0);
    const status = await inKeyringSession(["status", "--json"]);
    expect(JSON.parse(String(status.stdout))).toMatchObject({ keyKind: "scrypt", unlockedBy: "AUTHCTL_PASSPHRASE" });
  });
});

describe("no Secret Service answering", () => {
  it("a new store falls through to the key file (fast, no hang) and the key never shows", async () => {
    const secret = canary("sk-");
    const stored = await authctl(t.home, ["key", "openai", "--stdin"], { input: secret, extraEnv: NO_SECRET_SERVICE, timeout: 20_000 });
    expect(stored.exitCode, printed(stored)).toBe(0);
    expect(existsSync(join(t.home, "store.key"))).toBe(true);
    const status = await authctl(t.home, ["status", "--json"], { extraEnv: NO_SECRET_SERVICE });
    expect(JSON.parse(String(status.stdout))).toMatchObject({ keyKind: "keyfile", unlockedBy: "key file" });
    const used = await authctl(t.home, ["run", "--", "node", "-e", OPENAI_KEY_SHA256], { extraEnv: NO_SECRET_SERVICE });
    expect(String(used.stdout)).toBe(sha256(secret));
    for (const r of [stored, status, used]) expect(printed(r)).not.toContain(secret);
  });

  it("a session bus that accepts but never answers is given up on after the short timeout", async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    const bus = join(t.home, "..", "silent-bus");
    await new Promise<void>((resolve) => silent.listen(bus, resolve));
    try {
      const secret = canary("sk-");
      const env = { ...NO_SECRET_SERVICE, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}` };
      const stored = await authctl(t.home, ["key", "openai", "--stdin"], { input: secret, extraEnv: env, timeout: 20_000 });
      expect(stored.exitCode, printed(stored)).toBe(0);
      expect(held.length).toBeGreaterThan(0);
      expect(existsSync(join(t.home, "store.key"))).toBe(true);
      expect(printed(stored)).not.toContain(secret);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("first run on a terminal offers a passphrase instead of silently writing a key file", async () => {
    const secret = canary("sk-ant-");
    const run = runInPty(["node", CLI, "key", "anthropic"], childEnv(t.home, NO_SECRET_SERVICE));
    await run.waitFor(/ANTHROPIC_API_KEY: $/m);
    run.type(secret + "\r");
    await run.waitFor(/Protect the store .* with a passphrase\? .*\[y\/N\] /);
    run.type("y\r");
    await run.waitFor(/new store passphrase: $/m);
    run.type("open sesame, seven seas\r");
    await run.waitFor(/repeat it: $/m);
    run.type("open sesame, seven seas\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(run.output()).not.toContain(secret);
    expect(run.output()).not.toContain("open sesame, seven seas");
    expect(existsSync(join(t.home, "store.key"))).toBe(false);
    const status = await authctl(t.home, ["status", "--json"], { extraEnv: { AUTHCTL_PASSPHRASE: "open sesame, seven seas" } });
    expect(JSON.parse(String(status.stdout))).toMatchObject({ keyKind: "scrypt", unlockedBy: "AUTHCTL_PASSPHRASE" });
  });

  it("declining the offer keeps the key file", async () => {
    const run = runInPty(["node", CLI, "key", "anthropic"], childEnv(t.home, NO_SECRET_SERVICE));
    await run.waitFor(/ANTHROPIC_API_KEY: $/m);
    run.type(canary("sk-ant-") + "\r");
    await run.waitFor(/\[y\/N\] /);
    run.type("\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(existsSync(join(t.home, "store.key"))).toBe(true);
  });
});
