import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, childEnv, CLI, tempHome } from "./helpers/env.js";
import { containersNamed, ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { runInPty } from "./helpers/pty.js";
import { useFakeVendor } from "./helpers/roster.js";
import { waitForChild } from "./helpers/processes.js";

/**
 * Issue 11 findings 7, 14 and 19: a session file decides nothing about what cleanup deletes; cleanup
 * needs no roster; and temp dirs a killed authctl left behind are swept with stale sessions.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-hsessions-");
/** TMPDIR of every child: the temp root authctl makes its login dirs in. */
const tmp = join(t.home, "..", "tmp");
mkdirSync(tmp, { recursive: true });
const sessions = join(t.home, "sessions");
const userContainers: string[] = [];
afterAll(() => {
  for (const name of [...userContainers, ...containersNamed("ph11")]) spawnSync(ENGINE, ["rm", "-f", name], { stdio: "ignore" });
  t.cleanup();
});

const DAY = 86_400_000;
const withTmp = { extraEnv: { TMPDIR: tmp } };
const running = (name: string) =>
  spawnSync(ENGINE, ["inspect", "--format", "{{.State.Running}}", name], { encoding: "utf8" }).stdout.trim() === "true";

/** A directory holding one file, so "it survived" means its content did too. */
function victimDir(parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  writeFileSync(join(dir, "precious.txt"), "keep me");
  return dir;
}

/** Writes `sessions/<id>.json` as authctl would, but pointing wherever the test says. */
function craftSession(fields: { authDir: string; containerName?: string; ageMs?: number }): string {
  mkdirSync(sessions, { recursive: true, mode: 0o700 });
  const id = randomBytes(8).toString("hex");
  const containerName = fields.containerName ?? `ph11craft-auth-gh-${randomBytes(3).toString("hex")}`;
  const state = {
    provider: "gh", projectId: "ph11craft", credentialSet: "ph11craft", exposeToken: false, containerName,
    argv: [ENGINE], banner: "", title: "", authDir: fields.authDir, mountsDir: join(t.home, "mounts"),
  };
  writeFileSync(join(sessions, `${id}.json`), JSON.stringify({ id, createdAt: Date.now() - (fields.ageMs ?? 0), state }), { mode: 0o600 });
  return id;
}

function startUserContainer(name: string): void {
  userContainers.push(name);
  const r = spawnSync(ENGINE, ["run", "-d", "--name", name, TEST_IMAGE, "sleep", "300"], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

/** Everything a crafted session file may point at that is not authctl's to delete. */
function craftedTargets(label: string) {
  const outside = victimDir(join(t.home, ".."), `victim-${label}-`);
  // Looks like a login dir by name, but is not under the temp root.
  const lookalikeParent = mkdtempSync(join(t.home, "..", `elsewhere-${label}-`));
  const lookalike = join(lookalikeParent, "authctl-gh-lookalike");
  mkdirSync(join(lookalike, "mount"), { recursive: true });
  writeFileSync(join(lookalike, "precious.txt"), "keep me");
  // Inside the temp root, the right prefix, but a symlink out of it.
  const linkTarget = victimDir(join(t.home, ".."), `linked-${label}-`);
  mkdirSync(join(linkTarget, "mount"));
  const link = join(tmp, `authctl-gh-link-${label}`);
  symlinkSync(linkTarget, link);
  // Inside the temp root, the right prefix, owned by another account.
  const foreign = join(tmp, `authctl-gh-foreign-${label}`);
  mkdirSync(join(foreign, "mount"), { recursive: true });
  writeFileSync(join(foreign, "precious.txt"), "keep me");
  const canChown = process.getuid?.() === 0;
  if (canChown) for (const p of [foreign, join(foreign, "mount"), join(foreign, "precious.txt")]) chownSync(p, 4242, 4242);
  const container = `ph11user-${label}-auth-gh-${randomBytes(3).toString("hex")}`;
  startUserContainer(container);
  return {
    sessions: [
      { authDir: outside },
      { authDir: join(lookalike, "mount") },
      { authDir: join(link, "mount") },
      ...(canChown ? [{ authDir: join(foreign, "mount") }] : []),
      { authDir: join(tmp, "authctl-gh-none", "mount"), containerName: container },
    ],
    survived: () => {
      for (const file of [join(outside, "precious.txt"), join(lookalike, "precious.txt"), join(linkTarget, "precious.txt"), join(foreign, "precious.txt")]) {
        expect(existsSync(file), file).toBe(true);
      }
      expect(existsSync(link), "the symlink itself").toBe(true);
      expect(running(container), `user container ${container}`).toBe(true);
    },
  };
}

describe.runIf(hasEngine)("issue 11: saved sessions are not trusted (7), need no roster (14), and orphans are swept (19)", () => {
  it("7: `session cleanup` of crafted session files removes no foreign dir, symlink target or unlabelled container", async () => {
    useFakeVendor(t.home, "gh");
    const targets = craftedTargets("cleanup");
    const results = [];
    for (const crafted of targets.sessions) {
      const id = craftSession(crafted);
      results.push({ id, crafted, r: await authctl(t.home, ["session", "cleanup", id], withTmp) });
    }
    targets.survived();
    for (const { id, crafted, r } of results) {
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(existsSync(join(sessions, `${id}.json`))).toBe(false);
      // The last one names a login dir that does not exist: nothing to leave, nothing to say.
      if (crafted === targets.sessions.at(-1)) continue;
      expect(String(r.stderr)).toContain(`left ${crafted.authDir}`);
      expect(String(r.stderr)).toMatch(/not a login dir authctl made/);
    }
  });

  it("7: the daily sweep of stale crafted session files removes nothing it did not make", async () => {
    useFakeVendor(t.home, "gh");
    const targets = craftedTargets("sweep");
    const ids = targets.sessions.map((crafted) => craftSession({ ...crafted, ageMs: 2 * DAY }));
    const prep = await authctl(t.home, ["session", "prepare", "gh", "--project", "ph11sweep", "--image", TEST_IMAGE, "--no-tty", "--json"], withTmp);
    expect(prep.exitCode, String(prep.stderr)).toBe(0);
    for (const id of ids) expect(existsSync(join(sessions, `${id}.json`)), id).toBe(false);
    targets.survived();
    expect((await authctl(t.home, ["session", "cleanup", JSON.parse(String(prep.stdout)).id], withTmp)).exitCode).toBe(0);
  });

  it("14: `session cleanup` works with a broken roster: the running container and temp dir go, exit 0", async () => {
    useFakeVendor(t.home, "gh");
    const prep = await authctl(t.home, ["session", "prepare", "gh", "--project", "ph11roster", "--image", TEST_IMAGE, "--json"], withTmp);
    expect(prep.exitCode, String(prep.stderr)).toBe(0);
    const { id, argv, authDir, containerName } = JSON.parse(String(prep.stdout)) as { id: string; argv: string[]; authDir: string; containerName: string };
    const run = runInPty(argv, childEnv(t.home));
    await run.waitFor(/Paste code here:\s*$/m);
    expect(running(containerName)).toBe(true);

    const bad = join(t.home, "agents", "bad.yaml");
    writeFileSync(bad, "name: [unclosed\n");
    try {
      // A broken user roster file is skipped with a warning naming it (issue 21 item 9), not fatal.
      expect(String((await authctl(t.home, ["providers"])).stderr), "the roster file is broken").toContain(`skipped roster file ${bad}`);
      const r = await authctl(t.home, ["session", "cleanup", id], withTmp);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout)).toContain(`Cleaned up session ${id}`);
      expect(containersNamed("ph11roster-auth-")).toEqual([]);
      expect(existsSync(authDir)).toBe(false);
      expect(existsSync(join(sessions, `${id}.json`))).toBe(false);
      expect(readdirSync(join(t.home, "locks")).filter((f) => f.startsWith("ph11roster."))).toEqual([]);
      await run.child;
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it("19: temp dirs of a SIGKILLed `authctl auth` are swept once stale; fresh and live ones stay", async () => {
    useFakeVendor(t.home, "gh");
    const loginDirs = () => new Set(readdirSync(tmp).filter((name) => name.startsWith("authctl-") && existsSync(join(tmp, name, "mount"))));
    const newDir = async (before: Set<string>, action: () => Promise<unknown>) => {
      await action();
      const added = [...loginDirs()].filter((name) => !before.has(name));
      expect(added).toHaveLength(1);
      return join(tmp, added[0]!);
    };
    const age = (dir: string) => utimesSync(dir, new Date(Date.now() - 3 * DAY), new Date(Date.now() - 3 * DAY));
    const sweep = async () => {
      const r = await authctl(t.home, ["session", "prepare", "gh", "--project", "ph11sweeper", "--image", TEST_IMAGE, "--no-tty", "--json"], withTmp);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect((await authctl(t.home, ["session", "cleanup", JSON.parse(String(r.stdout)).id], withTmp)).exitCode).toBe(0);
    };

    // Orphan: `authctl auth` killed with SIGKILL mid-login; its container ends on its own later.
    const orphan = await newDir(loginDirs(), async () => {
      const login = runInPty(["node", CLI, "auth", "gh", "--project", "ph11orphan", "--mode", "oauth", "--image", TEST_IMAGE], childEnv(t.home, { TMPDIR: tmp }));
      await login.waitFor(/Paste code here:\s*$/m);
      process.kill(await waitForChild(login.child.pid!, `${basename(CLI)} auth`), "SIGKILL");
      await login.child;
    });
    for (const name of containersNamed("ph11orphan-auth-")) spawnSync(ENGINE, ["rm", "-f", name], { stdio: "ignore" });

    // Live: a prepared session, its file fresh though its dir is old.
    let prepared: { id: string; argv: string[] } | undefined;
    const withSessionFile = await newDir(loginDirs(), async () => {
      const r = await authctl(t.home, ["session", "prepare", "gh", "--project", "ph11live", "--image", TEST_IMAGE, "--json"], withTmp);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      prepared = JSON.parse(String(r.stdout));
    });
    // Live: a login whose container still runs, with no session file (a frontend that lost it).
    let attached: ReturnType<typeof runInPty> | undefined;
    const withContainer = await newDir(loginDirs(), async () => {
      const r = await authctl(t.home, ["session", "prepare", "gh", "--project", "ph11running", "--image", TEST_IMAGE, "--json"], withTmp);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const { id, argv } = JSON.parse(String(r.stdout)) as { id: string; argv: string[] };
      attached = runInPty(argv, childEnv(t.home));
      await attached.waitFor(/Paste code here:\s*$/m);
      rmSync(join(sessions, `${id}.json`));
    });

    // Not a login dir, though named like one: it holds more than `mount/`.
    const notLogin = mkdtempSync(join(tmp, "authctl-notes-"));
    mkdirSync(join(notLogin, "mount"));
    writeFileSync(join(notLogin, "notes.txt"), "keep me");

    // A fresh orphan is not swept yet (a login may be starting in it).
    await sweep();
    expect(existsSync(orphan), "fresh orphan").toBe(true);

    for (const dir of [orphan, withSessionFile, withContainer, notLogin]) age(dir);
    await sweep();
    expect(existsSync(orphan), "stale orphan").toBe(false);
    expect(existsSync(join(notLogin, "notes.txt")), "an old authctl-* dir that is not a login dir").toBe(true);
    expect(existsSync(withSessionFile), "dir of a live session file").toBe(true);
    expect(existsSync(withContainer), "dir of a running login container").toBe(true);

    for (const name of containersNamed("ph11running-auth-")) spawnSync(ENGINE, ["rm", "-f", name], { stdio: "ignore" });
    await attached!.child;
    expect((await authctl(t.home, ["session", "cleanup", prepared!.id], withTmp)).exitCode).toBe(0);
    expect(existsSync(withSessionFile)).toBe(false);
  });
});
