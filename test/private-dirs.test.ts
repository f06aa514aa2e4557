import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { Authctl } from "../src/context.js";
import { prepareOAuthSession } from "../src/logins/container/session.js";
import { authctl, canary, tempHome } from "./helpers/env.js";
import { baseEnv } from "./helpers/context.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { useFakeVendor } from "./helpers/roster.js";

/**
 * Issue 11: what an adversarial review found about private directories.
 * - A login's temp dir is handed to the image's user (uid 1000); on a rootful engine the HOST
 *   account with that uid must still not reach it (read or replace the captured token).
 * - An existing AUTHCTL_HOME is never chmodded; one other users can write is refused.
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
const t = tempHome("authctl-private-");
afterAll(() => t.cleanup());

/** Runs argv as another, unprivileged host account (numeric uid/gid, no supplementary groups). */
const asUid = (uid: number, argv: string[]) =>
  execa("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", ...argv], { reject: false, stdin: "ignore" });

describe.runIf(hasEngine)("a login's temp dir (issue 11, high)", () => {
  // CI runs as root; a non-root run cannot switch accounts, and says so instead of passing silently.
  it.runIf(isRoot || process.env.CI === "true")("the host account with the container user's uid can neither read nor replace the credential", async () => {
    useFakeVendor(t.home, "claude");
    const tmp = join(t.home, "..", "tmp");
    mkdirSync(tmp, { recursive: true, mode: 0o1777 });
    chmodSync(tmp, 0o1777); // like /tmp: every account can reach what is directly inside
    const context = new Authctl({ env: { ...baseEnv(), TMPDIR: tmp }, home: t.home });
    await using session = await prepareOAuthSession("claude", "privproj", { context, image: TEST_IMAGE, tty: false });
    // What the vendor CLI in the container does: write the credential as the image's user.
    const file = join(session.authDir, ".credentials.json");
    const secret = canary("sk-ant-oat01-");
    writeFileSync(file, JSON.stringify({ claudeAiOauth: { accessToken: secret } }), { mode: 0o600 });
    chownSync(file, 1000, 1000);

    const read = await asUid(1000, ["cat", file]);
    expect(read.exitCode).not.toBe(0);
    expect(read.stdout + read.stderr).not.toContain(secret);
    const replace = await asUid(1000, ["sh", "-c", `echo '{}' > '${file}'`]);
    expect(replace.exitCode).not.toBe(0);
    const list = await asUid(1000, ["ls", session.authDir]);
    expect(list.exitCode).not.toBe(0);
    // The walk from TMPDIR stops at a directory only the caller can enter.
    const [entry] = readdirSync(tmp);
    expect(statSync(join(tmp, entry!)).mode & 0o077).toBe(0);
    await session.cleanup();
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe("AUTHCTL_HOME is used as it is, or refused (issue 11, medium)", () => {
  it("an existing home's mode is never changed, even by `creds list`", async () => {
    const home = join(t.home, "..", "shared-readable");
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    const r = await authctl(home, ["creds", "list"]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(statSync(home).mode & 0o7777).toBe(0o755);
  });

  it("a home other users can write (a sticky shared dir like /tmp) is refused with a message, and keeps its mode", async () => {
    const home = join(t.home, "..", "shared-writable");
    mkdirSync(home);
    chmodSync(home, 0o1777);
    for (const args of [["creds", "list"], ["status"]]) {
      const r = await authctl(home, args);
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr)).toMatch(/is writable by other users \(mode 1777\).*chmod go-w/);
    }
    expect(statSync(home).mode & 0o7777).toBe(0o1777);
    expect(readdirSync(home)).toEqual([]);
  });

  it("a missing home is created 0700", async () => {
    const home = join(t.home, "..", "fresh", "nested");
    const r = await authctl(home, ["key", "stripe", "--stdin"], { input: canary("sk_test_") });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });
});
