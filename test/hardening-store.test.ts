import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { getCredentials } from "../src/access/credentials.js";
import { Authctl } from "../src/context.js";
import { StoreError } from "../src/core/errors.js";
import { prepareOAuthSession } from "../src/logins/container/session.js";
import { removeCredential } from "../src/access/removeCredential.js";
import { loadRoster } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { ctxOf } from "./helpers/context.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { canary, childEnv } from "./helpers/env.js";
import { filesContaining } from "./helpers/leaks.js";
import { runInProcess } from "./helpers/memory-io.js";
import { useFakeVendor } from "./helpers/roster.js";

/**
 * Issue 11, store findings: a read-only or full disk under `$AUTHCTL_HOME` (5: real mounts, so
 * root, as CI runs; every mount is undone in afterAll), and the copies a login exposes (6).
 */
const hasEngine = requireEngine();
const isRoot = process.getuid?.() === 0;
const scratch = mkdtempSync(join(tmpdir(), "authctl-hardening-store-"));
const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts.splice(0).reverse()) execFileSync("umount", ["-l", dir]);
  rmSync(scratch, { recursive: true, force: true });
});

function mount(args: string[], dir: string): void {
  execFileSync("mount", [...args, dir]);
  mounts.push(dir);
}

function umount(dir: string): void {
  execFileSync("umount", [dir]);
  mounts.splice(mounts.indexOf(dir), 1);
}

/** A read-only view of `source` at `target` (a bind mount remounted ro: chmod would not stop root). */
function readOnlyBind(source: string, target: string): void {
  mkdirSync(target, { recursive: true });
  mount(["--bind", source], target);
  execFileSync("mount", ["-o", "remount,ro,bind", target]);
}

/** Appends to a file until the file system says ENOSPC. */
function fillDisk(file: string): void {
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    try {
      appendFileSync(file, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") return;
      throw err;
    }
  }
}

const cli = (home: string, args: string[], input?: string) => runInProcess(childEnv(home), args, input);

async function listedProviders(home: string): Promise<string[]> {
  const r = await cli(home, ["creds", "list", "--json"]);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Array<{ provider: string }>).map((row) => row.provider);
}

/** `creds list`, `status` and `getCredentials` work on a read-only home; a write says why it cannot, leaking nothing. */
async function readsButRefusesWrites(roHome: string, key: string, label: string): Promise<void> {
  expect(await listedProviders(roHome), label).toEqual(["stripe"]);
  const status = await cli(roHome, ["status", "--json"]);
  expect(status.exitCode, status.stderr).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ unlockedBy: "key file", readOnly: expect.stringContaining("is read-only"), logins: [{ provider: "stripe", state: "valid" }] });
  expect((await cli(roHome, ["status"])).stdout).toMatch(/writable\s+no: the credential store .* is read-only/);
  using context = new Authctl({ env: childEnv(roHome) });
  expect(getCredentials("stripe", { context }).payload).toEqual({ type: "api_key", key });

  const other = canary("sk-");
  const write = await cli(roHome, ["key", "openai", "--stdin"], other);
  expect(write.exitCode, label).toBe(1);
  expect(write.stderr).toContain(`the credential store ${join(roHome, "credentials.db")} is read-only`);
  expect(write.stderr).toContain("nothing was changed");
  expect(write.stdout + write.stderr).not.toContain(other);

  // A login says so before it starts: before the engine is asked about its image, or a container runs.
  const login = await cli(roHome, ["auth", "claude", "--mode", "oauth", "--image", "localhost/authctl-no-such-image:latest"]);
  expect(login.exitCode, label).toBe(1);
  expect(login.stderr).toContain(`the credential store ${join(roHome, "credentials.db")} is read-only`);
}

describe.runIf(isRoot || process.env.CI === "true")("store on a read-only or full disk (issue 11)", () => {
  it("5: a read-only home still reads (creds list, status, getCredentials); a full disk says so; nothing is lost", async () => {
    const key = canary("sk_test_");
    const rw = join(scratch, "rw");
    const home = join(rw, "home");
    expect((await cli(home, ["key", "stripe", "--stdin"], key)).exitCode).toBe(0);

    // Cleanly closed (no -wal/-shm left), then while a writer holds it open elsewhere (-shm present).
    const ro = join(scratch, "ro");
    readOnlyBind(rw, ro);
    const roHome = join(ro, "home");
    await readsButRefusesWrites(roHome, key, "cleanly closed");
    const writer = CredentialStore.open({ home, env: childEnv(home) });
    writer.list();
    await readsButRefusesWrites(roHome, key, "a writer holds it open");
    writer.close();
    umount(ro);
    expect(await listedProviders(home)).toEqual(["stripe"]);

    // A full disk: reads go on, a write says the disk is full, and once there is room again it works.
    const small = join(scratch, "small");
    mkdirSync(small);
    mount(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"], small);
    const fullHome = join(small, "home");
    expect((await cli(fullHome, ["key", "stripe", "--stdin"], key)).exitCode).toBe(0);
    const open = CredentialStore.open({ home: fullHome, env: childEnv(fullHome) });
    fillDisk(join(small, "filler"));
    const full = `the disk holding $AUTHCTL_HOME (${fullHome}) is full: free space and retry; nothing was changed`;
    expect(() => open.put("default", "big", "api_key", { key: "x".repeat(256 * 1024) }, { preview: "x…" })).toThrow(StoreError);
    expect(() => open.put("default", "big", "api_key", { key: "x".repeat(256 * 1024) }, { preview: "x…" })).toThrow(full);
    open.close(); // its -wal and -shm go, freeing a little: fill that too, so the next opens meet a full disk
    fillDisk(join(small, "filler"));

    expect(await listedProviders(fullHome)).toEqual(["stripe"]);
    const fullStatus = await cli(fullHome, ["status", "--json"]);
    expect(fullStatus.exitCode, fullStatus.stderr).toBe(0);
    expect(JSON.parse(fullStatus.stdout)).toMatchObject({ readOnly: full, logins: [{ provider: "stripe" }] });
    using fullContext = new Authctl({ env: childEnv(fullHome) });
    expect(getCredentials("stripe", { context: fullContext }).payload).toEqual({ type: "api_key", key });
    for (const args of [["key", "openai", "--stdin"], ["creds", "rm", "stripe"]]) {
      const r = await cli(fullHome, args, canary("sk-"));
      expect(r.exitCode, args.join(" ")).toBe(1);
      expect(r.stderr).toBe(`authctl: ${full}\n`);
    }

    rmSync(join(small, "filler"));
    expect((await cli(fullHome, ["key", "openai", "--stdin"], canary("sk-"))).exitCode).toBe(0);
    expect(await listedProviders(fullHome)).toEqual(["openai", "stripe"]);
    using check = CredentialStore.open({ home: fullHome, env: {} });
    expect(check.integrityCheck()).toBe("ok");
  });
});

describe.runIf(hasEngine)("exposed credential files (issue 11)", () => {
  it("6: each set has its own shared mount; removing a credential removes every copy authctl wrote", async () => {
    const home = join(scratch, "exposed");
    useFakeVendor(home, "claude");
    const roster = loadRoster({ userDir: join(home, "agents") });
    using store = CredentialStore.open({ home, env: childEnv(home) });
    const context = ctxOf(store, roster);
    const tokens = { a: canary("sk-ant-oat01-"), b: canary("sk-ant-oat01-") };
    for (const credentialSet of ["a", "b"] as const) {
      const session = await prepareOAuthSession("claude", null, { context, image: TEST_IMAGE, tty: false, credentialSet, exposeToken: true });
      try {
        const credentials = JSON.stringify({ claudeAiOauth: { accessToken: tokens[credentialSet], refreshToken: canary(), expiresAt: 1 } });
        writeFileSync(join(session.authDir, ".credentials.json"), credentials);
        expect((await session.capture()).sharedDir).toBe(join(home, "mounts", credentialSet, "_claude-config"));
      } finally {
        await session.cleanup();
      }
    }
    const shared = (set: string) => join(home, "mounts", set, "_claude-config");
    expect(readFileSync(join(shared("a"), ".credentials.json"), "utf8")).toContain(tokens.a);
    expect(readFileSync(join(shared("b"), ".credentials.json"), "utf8")).toContain(tokens.b);
    // What an older authctl left in the one-per-provider mount (the last login of any set).
    const legacy = join(home, "mounts", "_claude-config");
    mkdirSync(legacy, { recursive: true, mode: 0o700 });
    writeFileSync(join(legacy, ".credentials.json"), readFileSync(join(shared("a"), ".credentials.json")));

    const rm = await cli(home, ["creds", "rm", "a:claude"]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(rm.stdout).toContain("Removed a:claude");
    expect(filesContaining(join(home, "mounts"), tokens.a)).toEqual([]);
    expect(existsSync(join(shared("a"), ".claude.json"))).toBe(true); // onboarding state is no copy of the credential
    expect(readFileSync(join(shared("b"), ".credentials.json"), "utf8")).toContain(tokens.b);
    expect(store.list().map((r) => `${r.credentialSet}:${r.provider}`)).toEqual(["b:claude"]);

    const removed = await removeCredential("claude", { credentialSet: "b", context });
    expect(removed).toMatchObject({ credentialSet: "b", provider: "claude", kind: "oauth", removedFiles: [join(shared("b"), ".credentials.json")] });
    expect(filesContaining(join(home, "mounts"), tokens.b)).toEqual([]);
    expect(store.list()).toEqual([]);
    expect((await cli(home, ["creds", "rm", "b:claude"])).exitCode).toBe(3);
  });
});
