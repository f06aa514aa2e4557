import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, tempHome } from "./helpers/env.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { useFakeVendor } from "./helpers/roster.js";

const hasEngine = requireEngine();
const t = tempHome();
afterAll(() => t.cleanup());

describe.runIf(hasEngine)("saved sessions", () => {
  it("prepare sweeps sessions older than a day (temp dir and file), keeps fresh ones", async () => {
    useFakeVendor(t.home, "gh");
    const sessions = join(t.home, "sessions");
    mkdirSync(sessions, { recursive: true, mode: 0o700 });
    // A login dir as authctl makes them, in the temp root (TMPDIR) of the sweeping process.
    const tmp = join(t.home, "..", "tmp");
    mkdirSync(tmp, { recursive: true });
    const staleDir = join(mkdtempSync(join(tmp, "authctl-old-auth-gh-000000-")), "mount");
    mkdirSync(staleDir);
    const state = (authDir: string) => ({
      provider: "gh", projectId: "old", credentialSet: "old", exposeToken: false, containerName: "old-auth-gh-000000",
      argv: ["podman"], banner: "", title: "", authDir, mountsDir: join(t.home, "mounts"),
    });
    writeFileSync(join(sessions, "00000000000000aa.json"), JSON.stringify({ id: "00000000000000aa", createdAt: Date.now() - 2 * 86_400_000, state: state(staleDir) }));
    writeFileSync(join(sessions, "00000000000000bb.json"), JSON.stringify({ id: "00000000000000bb", createdAt: Date.now(), state: state("/nonexistent") }));

    const prep = await authctl(t.home, ["session", "prepare", "gh", "--project", "psweep", "--image", TEST_IMAGE, "--no-tty", "--json"], { extraEnv: { TMPDIR: tmp } });
    expect(prep.exitCode, String(prep.stderr)).toBe(0);
    const { id, argv } = JSON.parse(String(prep.stdout));
    expect(argv).not.toContain("-t");
    expect(existsSync(dirname(staleDir))).toBe(false);
    expect(readdirSync(sessions).sort()).toEqual(["00000000000000bb.json", `${id}.json`].sort());
    expect((await authctl(t.home, ["session", "cleanup", id], { extraEnv: { TMPDIR: tmp } })).exitCode).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("a session file that is not valid JSON is a usage error, not a crash", async () => {
    writeFileSync(join(t.home, "sessions", "00000000000000cc.json"), "{nope");
    const r = await authctl(t.home, ["session", "capture", "00000000000000cc"]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/is damaged/);
    expect(String(r.stderr)).not.toMatch(/\n\s+at /);
  });

  it("image build names the known images for an unknown key", async () => {
    const r = await authctl(t.home, ["image", "build", "nosuch"]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/no image "nosuch" .*known: auth/);
  });
});
