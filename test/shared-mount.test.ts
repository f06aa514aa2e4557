import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { CaptureError } from "../src/core/errors.js";
import { containerUserFor, detectEngine, type Engine } from "../src/engine/index.js";
import { prepareOAuthSession } from "../src/logins/container/session.js";
import { MAX_STATE_DEPTH, nestedDeeperThan } from "../src/logins/container/sharedMount.js";
import { loadRoster } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { ctxOf } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";
import { ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { useFakeVendor } from "./helpers/roster.js";

/**
 * The shared mount a capture writes (mounts/<set>/<host_dir_name>/):
 * - issue 11 item 3: capture is one unit. What the mount can refuse is refused BEFORE the store
 *   commit, so nothing is stored, the error names the file and what to do, and the next login works.
 * - issue 7.4: on a rootful engine its files are readable by the container's `dev` user, yet no
 *   other host account (not even the one with uid 1000) can reach them.
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
const t = tempHome("authctl-shared-");
afterAll(() => t.cleanup());

/** A vendor credential the container would have written into the login dir. */
function writeVendorCredential(authDir: string): string {
  const secret = canary("sk-ant-oat01-");
  writeFileSync(join(authDir, ".credentials.json"), JSON.stringify({ claudeAiOauth: { accessToken: secret, refreshToken: canary(), expiresAt: 1 } }));
  return secret;
}

async function claudeSession(project: string) {
  useFakeVendor(t.home, "claude");
  const roster = loadRoster({ userDir: join(t.home, "agents") });
  const store = CredentialStore.open({ home: t.home, env: {} });
  const mountsDir = join(t.home, `mounts-${project}`); // one per test: they run one after another, but must not share state
  const session = await prepareOAuthSession("claude", project, {
    context: ctxOf(store, roster),
    image: TEST_IMAGE,
    tty: false,
    mountsDir,
    credentialSet: project,
  });
  return { session, store, mountsDir, shared: join(mountsDir, project, "_claude-config") };
}

const captureError = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a CaptureError");
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(CaptureError);
      return e as CaptureError;
    },
  );

/** Who the test image's user (uid 1000, HOME /home/dev) runs as on this engine, as authctl starts it. */
const imageUser = (engine: Engine) => containerUserFor(engine, { uid: 1000, home: "/home/dev" });

describe("nestedDeeperThan", () => {
  it("measures depth without recursion, so any depth is safe to ask about", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 400_000; i++) deep = [deep];
    expect(nestedDeeperThan(deep, MAX_STATE_DEPTH)).toBe(true);
    expect(nestedDeeperThan({ a: { b: { c: [1, { d: 2 }] } } }, 5)).toBe(false);
    expect(nestedDeeperThan({ a: { b: { c: [1, { d: {} }] } } }, 5)).toBe(true);
  });
});

describe.runIf(hasEngine)("capture and the shared mount are one unit (issue 11 item 3)", () => {
  it("a 400k-deep .claude.json left in the mount: nothing stored, the file named; moved away, the same session captures", async () => {
    const { session, store, shared } = await claudeSession("deep");
    try {
      mkdirSync(shared, { recursive: true });
      writeFileSync(join(shared, ".claude.json"), "[".repeat(400_000) + "]".repeat(400_000));
      const secret = writeVendorCredential(session.authDir);

      const err = await captureError(session.capture());
      expect(err.message).toBe(`shared mount deep/_claude-config/.claude.json nests deeper than ${MAX_STATE_DEPTH} levels; move it away and log in again`);
      expect(err.message).not.toContain(secret);
      expect(store.info("deep", "claude")).toBeUndefined();
      expect(readdirSync(shared).sort()).toEqual([".claude.json"]); // no staged temp files left behind

      writeFileSync(join(shared, ".claude.json"), JSON.stringify({ theme: "dark" }));
      const summary = await session.capture();
      expect(summary).toMatchObject({ provider: "claude", credentialSet: "deep", sharedDir: shared });
      expect(store.info("deep", "claude")).toBeDefined();
      expect(JSON.parse(readFileSync(join(shared, ".claude.json"), "utf8"))).toEqual({ theme: "dark", hasCompletedOnboarding: true });
    } finally {
      await session.cleanup();
      store.close();
    }
  });

  it("a directory in place of .claude.json: nothing stored, what to do said", async () => {
    const { session, store, shared } = await claudeSession("dirstate");
    try {
      mkdirSync(join(shared, ".claude.json", "inner"), { recursive: true });
      writeVendorCredential(session.authDir);
      const err = await captureError(session.capture());
      expect(err.message).toBe("shared mount dirstate/_claude-config/.claude.json is a directory, not a file; move it away and log in again");
      expect(store.info("dirstate", "claude")).toBeUndefined();
      expect(existsSync(join(shared, "authctl-phantom.json"))).toBe(false); // the phantom marker is not half-written either
      expect(readdirSync(shared)).toEqual([".claude.json"]);
    } finally {
      await session.cleanup();
      store.close();
    }
  });

  it("a directory in place of the phantom marker or of an exposed credential file to remove: refused before storing", async () => {
    const { session, store, shared } = await claudeSession("dirmarker");
    try {
      mkdirSync(join(shared, "authctl-phantom.json"), { recursive: true });
      writeVendorCredential(session.authDir);
      const marker = await captureError(session.capture());
      expect(marker.message).toContain("_claude-config/authctl-phantom.json is a directory");
      rmSync(join(shared, "authctl-phantom.json"), { recursive: true });
      mkdirSync(join(shared, ".credentials.json"));
      const credential = await captureError(session.capture());
      expect(credential.message).toContain("_claude-config/.credentials.json is a directory");
      expect(store.info("dirmarker", "claude")).toBeUndefined();
    } finally {
      await session.cleanup();
      store.close();
    }
  });

  it("an oversized .claude.json is refused, not read whole or overwritten", async () => {
    const { session, store, shared } = await claudeSession("huge");
    try {
      mkdirSync(shared, { recursive: true });
      const big = JSON.stringify({ pad: "x".repeat(17 * 1024 * 1024) });
      writeFileSync(join(shared, ".claude.json"), big);
      writeVendorCredential(session.authDir);
      const err = await captureError(session.capture());
      expect(err.message).toBe("shared mount huge/_claude-config/.claude.json is over 16 MiB; move it away and log in again");
      expect(store.info("huge", "claude")).toBeUndefined();
      expect(statSync(join(shared, ".claude.json")).size).toBe(big.length);
    } finally {
      await session.cleanup();
      store.close();
    }
  });
});

describe.runIf(hasEngine)("shared-mount files: readable by the container's dev, by no other host account (issue 7.4)", () => {
  // CI runs as root (rootful podman, the case that was broken); a non-root run cannot chown or switch accounts.
  it.runIf(isRoot || process.env.CI === "true")("after a capture, the container's user reads them inside a container; host uid 1000 and 1001 cannot", async () => {
    const { session, store, shared, mountsDir } = await claudeSession("perm");
    try {
      writeVendorCredential(session.authDir);
      await session.capture();
      const engine = await detectEngine(process.env);
      const rootful = !(engine.name === "podman" && engine.rootless);
      expect(statSync(mountsDir).mode & 0o777).toBe(0o700);
      expect(statSync(mountsDir).uid).toBe(0);
      const user = imageUser(engine);
      if (rootful) {
        for (const p of [shared, join(shared, ".claude.json"), join(shared, "authctl-phantom.json")]) {
          expect(statSync(p).uid, p).toBe(user.owner);
          expect(statSync(p).mode & 0o077, p).toBe(0);
        }
      }

      const inside = await execa(
        ENGINE,
        ["run", "--rm", ...user.args, "-v", `${shared}:/home/dev/.claude:Z`, TEST_IMAGE, "sh", "-c", "id -u; cat /home/dev/.claude/.claude.json /home/dev/.claude/authctl-phantom.json"],
        { reject: false, stdin: "ignore" },
      );
      expect(inside.exitCode, inside.stderr).toBe(0);
      expect(inside.stdout.split("\n")[0]).toBe(String(user.owner ?? 1000));
      expect(inside.stdout).toContain('"hasCompletedOnboarding": true');
      expect(inside.stdout).toContain('"provider": "claude"');

      for (const uid of [1000, 1001]) {
        const other = await execa("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", "cat", join(shared, ".claude.json")], {
          reject: false,
          stdin: "ignore",
        });
        expect(other.exitCode, `host uid ${uid}`).not.toBe(0);
        expect(other.stderr).toContain("Permission denied");
      }
    } finally {
      await session.cleanup();
      store.close();
    }
  });

  it.runIf(isRoot)("a mounts dir left group/world-readable is tightened to 0700 before files are handed to the container's user", async () => {
    const { session, store, shared, mountsDir } = await claudeSession("loose");
    try {
      mkdirSync(mountsDir, { recursive: true });
      chmodSync(mountsDir, 0o755);
      writeVendorCredential(session.authDir);
      await session.capture();
      const engine = await detectEngine(process.env);
      if (!(engine.name === "podman" && engine.rootless)) {
        expect(statSync(mountsDir).mode & 0o777).toBe(0o700);
        const other = await execa("setpriv", ["--reuid=1000", "--regid=1000", "--clear-groups", "--", "cat", join(shared, ".claude.json")], {
          reject: false,
          stdin: "ignore",
        });
        expect(other.exitCode).not.toBe(0);
      }
    } finally {
      await session.cleanup();
      store.close();
    }
  });

  it.runIf(isRoot)("a mount written by an older authctl (root-owned) is handed to the container user on the next capture", async () => {
    const { session, store, shared } = await claudeSession("legacy");
    try {
      mkdirSync(shared, { recursive: true, mode: 0o700 });
      chownSync(shared, 0, 0);
      writeVendorCredential(session.authDir);
      await session.capture();
      const engine = await detectEngine(process.env);
      if (!(engine.name === "podman" && engine.rootless)) expect(statSync(shared).uid).toBe(imageUser(engine).owner);
    } finally {
      await session.cleanup();
      store.close();
    }
  });
});
