import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { CaptureError } from "../../src/core/errors.js";
import { containerUserFor } from "../../src/engine/index.js";
import { prepareOAuthSession, restoreSession } from "../../src/logins/container/session.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome } from "../helpers/env.js";
import { ENGINE, removeContainers, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { useFakeVendor } from "../helpers/roster.js";

/**
 * Issue 18, finding 2: the shared mount (mounts/<set>/<host_dir_name>/) is mounted read-write into
 * agent containers, so a container can swap any directory inside it for a symlink to a host dir
 * while authctl writes there after a capture. Here the roster puts a post_capture_state file two
 * directories down (`a/b/state.json`) and a hostile container keeps replacing `a` by a symlink to
 * a HOST dir laid out like it (`b/state.json` inside: a canary the container cannot read), while
 * captures run one after another. A writer that checks a path and then acts on it by path creates
 * its staged file there, renames it in, chowns `b` to the container's uid or chmods it; a reader
 * that follows the symlink copies the canary into the mount. None of that may happen.
 */
const hasEngine = requireEngine();
const CONFIG = "/home/dev/.claude";
const NAME = `authctl-mount-race-${process.pid}`;
/** Captures run for this long once the attacker swaps, and at least this many times. */
const RACE_MS = 20_000;
const MIN_CAPTURES = 100;
const STATE_FILES = 30;

/**
 * The hostile agent. Each round: a fresh real `a/b` (0755, so authctl wants to chmod and maybe
 * chown it), `a` moved away, a symlink to the victim put in its place, then the real tree back.
 * Its log counts the swaps (a run without any proves nothing) and says whether a state file it
 * saw ever held the victim's marker.
 */
function attackScript(victim: string): string {
  return [
    `cd ${CONFIG} || exit 9`,
    ": > ready",
    "n=0",
    "while [ ! -e stop ]; do",
    // Puts things back when authctl made `a` in the instant it was missing.
    "  if [ -e real ]; then rm -rf a; mv -T real a; fi",
    `  [ -L lnk ] || { rm -rf lnk; ln -s '${victim}' lnk; }`,
    "  mv -T a real 2>/dev/null",
    "  mv -T lnk a 2>/dev/null && n=$((n+1))",
    "  mv -T a lnk 2>/dev/null",
    "  mv -T real a 2>/dev/null",
    "done",
    'echo "swapped $n"',
  ].join("\n");
}

interface Snapshot {
  [path: string]: string;
}

/** Every entry under `dir`: type, owner, mode and a hash of a file's bytes. */
function snapshot(dir: string, prefix = ""): Snapshot {
  const out: Snapshot = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const st = lstatSync(path);
    const rel = `${prefix}${name}`;
    const sum = st.isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : "";
    out[rel] = `${st.isDirectory() ? "dir" : st.isFile() ? "file" : "other"} uid=${st.uid} gid=${st.gid} mode=${(st.mode & 0o7777).toString(8)} ${sum}`;
    if (st.isDirectory()) Object.assign(out, snapshot(path, `${rel}/`));
  }
  return out;
}

describe.runIf(hasEngine)(`a hostile container swaps a dir of the shared mount for a symlink while captures write it (${ENGINE})`, () => {
  const t = tempHome("authctl-mount-race-");
  const root = join(t.home, "..");
  const context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home, TMPDIR: join(root, "tmp") } });

  afterAll(async () => {
    removeContainers(NAME);
    context.store().close();
    t.cleanup();
  }, 60_000);

  it("no file is created, renamed, read, chowned or chmodded in the host dir the symlink points at", async () => {
    mkdirSync(join(root, "tmp"), { recursive: true, mode: 0o700 });
    useFakeVendor(t.home, "claude");
    const rosterFile = join(t.home, "agents", "claude.yaml");
    const entry = parse(readFileSync(rosterFile, "utf8"));
    // Many files under `a`: every one is a check of `a` followed by writes beneath it.
    for (let i = 0; i < STATE_FILES; i++) entry.oauth.post_capture_state[`a/b/s${i}.json`] = { authctlTest: i };
    writeFileSync(rosterFile, stringify(entry));

    // The victim: a host dir the container cannot reach (root's, never mounted), laid out like `a`.
    const victim = join(root, "victim");
    mkdirSync(join(victim, "b"), { recursive: true, mode: 0o755 });
    const secret = canary("victim-");
    writeFileSync(join(victim, "b", "s0.json"), JSON.stringify({ victimMarker: secret }));
    writeFileSync(join(victim, "b", "keep"), "keep me\n");
    const before = snapshot(victim);

    const mountsDir = join(root, "mounts");
    const session = await prepareOAuthSession("claude", "race", { context, image: TEST_IMAGE, tty: false, mountsDir, credentialSet: "race" });
    try {
      writeFileSync(join(session.authDir, ".credentials.json"), JSON.stringify({ claudeAiOauth: { accessToken: canary("sk-ant-oat01-"), refreshToken: canary(), expiresAt: 1 } }));
      // The first capture makes the mount (handed to the container's uid) before the container starts.
      const { sharedDir } = await session.capture();
      const user = containerUserFor(await context.engine(), { uid: 1000, home: "/home/dev" });
      const run = await execa(ENGINE, ["run", "-d", "--network", "none", ...user.args, "-v", `${sharedDir}:${CONFIG}`, "--name", NAME, TEST_IMAGE, "sh", "-c", attackScript(victim)], { reject: false });
      expect(run.exitCode, String(run.stderr)).toBe(0);
      const ready = Date.now() + 60_000;
      while (!existsSync(join(sharedDir, "ready"))) {
        if (Date.now() > ready) throw new Error(`the attacker never got ready: ${String((await execa(ENGINE, ["logs", NAME], { reject: false, all: true })).all)}`);
        await new Promise((r) => setTimeout(r, 50));
      }

      let captures = 0;
      const refusals = new Set<string>();
      const unexpected: unknown[] = [];
      const end = Date.now() + RACE_MS;
      while (Date.now() < end || captures < MIN_CAPTURES) {
        captures++;
        // A fresh object on the same login dir: capture() remembers its first result.
        const again = await restoreSession(session.toJSON(), { context });
        try {
          await again.capture();
        } catch (err) {
          if (err instanceof CaptureError) refusals.add(err.message.replace(/[0-9a-f]{12}/g, "…"));
          else unexpected.push(err);
        }
        // The victim is checked as the race goes, so a hit is reported with the capture that made it.
        expect(snapshot(victim), `the host dir changed through the container's symlink (capture ${captures})`).toEqual(before);
      }
      writeFileSync(join(sharedDir, "stop"), "");
      await execa(ENGINE, ["wait", NAME], { reject: false, timeout: 30_000 });
      const logs = String((await execa(ENGINE, ["logs", NAME], { reject: false, all: true })).all);
      const swaps = Number(/swapped (\d+)/.exec(logs)?.[1] ?? 0);
      expect(swaps, `the attacker never swapped: the race was not run (${logs.slice(-2000)})`).toBeGreaterThan(100);
      // A state file read through the symlink would be merged into the mount's copy and kept there.
      const merged = execa("grep", ["-rl", secret, sharedDir], { reject: false });
      expect((await merged).stdout, "the victim's state file was read into the mount").toBe("");
      expect(unexpected).toEqual([]);
      // A refusal names the path in the mount and never the victim's contents.
      for (const message of refusals) {
        expect(message).toMatch(/shared mount race\/_claude-config\/a/);
        expect(message).not.toContain(secret);
      }
      expect(snapshot(victim)).toEqual(before);
    } finally {
      removeContainers(NAME);
      await session.cleanup();
    }
  }, 180_000);
});
