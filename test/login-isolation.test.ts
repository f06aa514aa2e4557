import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { containersNamed, ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { runInPty } from "./helpers/pty.js";
import { useFakeVendor } from "./helpers/roster.js";
import { waitForChild } from "./helpers/processes.js";

/**
 * Issue 11 item 2 and issue 7's missing-image message: logins never remove each other's
 * containers or a user's, a second login for the same set:provider is refused while the first
 * runs (and not after a crash), and a missing image says how to build it instead of a pull error.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-isolation-");
const tmp = join(t.home, "..", "tmp");
mkdirSync(tmp, { recursive: true });
const userContainers: string[] = [];
afterAll(() => {
  for (const name of userContainers) spawnSync(ENGINE, ["rm", "-f", name], { stdio: "ignore" });
  t.cleanup();
});

const authArgv = (project: string) => ["node", CLI, "auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE];

function startUserContainer(name: string): void {
  userContainers.push(name);
  const r = spawnSync(ENGINE, ["run", "-d", "--name", name, TEST_IMAGE, "sleep", "300"], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

const running = (name: string) =>
  spawnSync(ENGINE, ["inspect", "--format", "{{.State.Running}}", name], { encoding: "utf8" }).stdout.trim() === "true";

describe.runIf(hasEngine)("logins stay out of each other's way (issue 11 item 2)", () => {
  it("a second login for the same set:provider is refused while the first runs; the first completes", async () => {
    useFakeVendor(t.home, "claude");
    const first = runInPty(authArgv("plock"), childEnv(t.home, { TMPDIR: tmp }));
    await first.waitFor(/Paste code here:\s*$/m);
    const [container] = containersNamed("plock-auth-claude-");
    expect(container).toMatch(/^plock-auth-claude-[0-9a-f]{6}$/);

    const second = await authctl(t.home, authArgv("plock").slice(2), { extraEnv: { TMPDIR: tmp } });
    expect(second.exitCode).toBe(1);
    expect(String(second.stderr)).toMatch(/another login for plock:claude is in progress/);
    expect(running(container!)).toBe(true); // not killed by the second attempt

    first.type(canary() + "\r");
    expect((await first.child).exitCode, first.output()).toBe(0);
    expect((await authctl(t.home, ["creds", "show", "plock:claude"])).exitCode).toBe(0);
    // Released on cleanup: the next login goes ahead.
    const again = await authctl(t.home, ["session", "prepare", "claude", "--project", "plock", "--image", TEST_IMAGE, "--json"]);
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect((await authctl(t.home, ["session", "cleanup", JSON.parse(String(again.stdout)).id])).exitCode).toBe(0);
    expect(readdirSync(join(t.home, "locks"))).toEqual([]);
  });

  it("a lock left by a killed authctl does not block the next login", async () => {
    useFakeVendor(t.home, "claude");
    const dead = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim();
    mkdirSync(join(t.home, "locks"), { recursive: true, mode: 0o700 });
    const holder = { pid: Number(dead), host: (await import("node:os")).hostname(), containerName: "pcrash-auth-claude-000000", createdAt: 0 };
    writeFileSync(join(t.home, "locks", "pcrash.claude.lock"), JSON.stringify(holder), { mode: 0o600 });
    const prep = await authctl(t.home, ["session", "prepare", "claude", "--project", "pcrash", "--image", TEST_IMAGE, "--json"]);
    expect(prep.exitCode, String(prep.stderr)).toBe(0);
    expect((await authctl(t.home, ["session", "cleanup", JSON.parse(String(prep.stdout)).id])).exitCode).toBe(0);
    expect(existsSync(join(t.home, "locks", "pcrash.claude.lock"))).toBe(false);
  });

  it("a user's container with a login's name is never touched, by a login or its cleanup", async () => {
    useFakeVendor(t.home, "claude");
    const mine = `puser-auth-claude`; // the name authctl used to give this login
    const lookalike = `puser-auth-claude-${randomBytes(3).toString("hex")}`;
    startUserContainer(mine);
    startUserContainer(lookalike);
    const run = runInPty(authArgv("puser"), childEnv(t.home, { TMPDIR: tmp }));
    await run.waitFor(/Paste code here:\s*$/m);
    run.type(canary() + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);

    const interrupted = runInPty(authArgv("puser"), childEnv(t.home, { TMPDIR: tmp }));
    await interrupted.waitFor(/Paste code here:\s*$/m);
    process.kill(await waitForChild(interrupted.child.pid!, `${basename(CLI)} auth`), "SIGINT");
    expect((await interrupted.child).exitCode).toBe(130);

    expect(running(mine)).toBe(true);
    expect(running(lookalike)).toBe(true);
    expect(containersNamed("puser-auth-").sort()).toEqual([mine, lookalike].sort());
  });

  it("`session cleanup` of an older session leaves a newer session's running container alone", async () => {
    useFakeVendor(t.home, "gh");
    const prepare = async () => {
      const r = await authctl(t.home, ["session", "prepare", "gh", "--project", "pnewer", "--image", TEST_IMAGE, "--json"], { extraEnv: { TMPDIR: tmp } });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      return JSON.parse(String(r.stdout)) as { id: string; argv: string[]; containerName: string };
    };
    const older = await prepare(); // never run: its lock is stale once `prepare` has exited
    const newer = await prepare();
    expect(newer.containerName).not.toBe(older.containerName);
    const run = runInPty(newer.argv, childEnv(t.home));
    await run.waitFor(/Paste code here:\s*$/m);

    // Cleanup runs with prepare's TMPDIR: it removes login dirs only under its own temp root.
    expect((await authctl(t.home, ["session", "cleanup", older.id], { extraEnv: { TMPDIR: tmp } })).exitCode).toBe(0);
    expect(running(newer.containerName)).toBe(true);
    // While the newer one runs, its lock holds.
    const third = await authctl(t.home, ["session", "prepare", "gh", "--project", "pnewer", "--image", TEST_IMAGE, "--json"]);
    expect(third.exitCode).toBe(1);
    expect(String(third.stderr)).toMatch(/another login for pnewer:gh is in progress/);

    run.type(canary() + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect((await authctl(t.home, ["session", "capture", newer.id])).exitCode).toBe(0);
    expect((await authctl(t.home, ["session", "cleanup", newer.id], { extraEnv: { TMPDIR: tmp } })).exitCode).toBe(0);
    expect(containersNamed("pnewer-auth-")).toEqual([]);
  });
});

describe.runIf(hasEngine)("a missing image (issue 7, issue 11 item 17)", () => {
  it("says the image is missing locally and how to build it, without trying a registry", async () => {
    useFakeVendor(t.home, "claude");
    const image = `localhost/authctl-no-such-image:${randomBytes(3).toString("hex")}`;
    const started = Date.now();
    const r = await authctl(t.home, ["auth", "claude", "--project", "pmissing", "--mode", "oauth", "--image", image], { extraEnv: { TMPDIR: tmp } });
    expect(r.exitCode).toBe(1);
    const stderr = String(r.stderr);
    expect(stderr).toContain(`image ${image} is missing locally in ${ENGINE.includes("docker") ? "docker" : "podman"}`);
    expect(stderr).toContain("authctl image build");
    expect(stderr).not.toMatch(/v2\/|connection refused|status 125|trying to pull/i);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(containersNamed("pmissing-auth-")).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(join(t.home, "locks", "pmissing.claude.lock"))).toBe(false);
  });
});
