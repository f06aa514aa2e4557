import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, tempHome } from "./helpers/env.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { memoryIO, runInProcess } from "./helpers/memory-io.js";
import { runCli } from "../src/cli/program.js";

const hasEngine = requireEngine();
const homes: Array<{ cleanup: () => void }> = [];
const printed: string[] = [];
const secret = canary("sk_test_");
afterAll(() => {
  for (const o of printed) expect(o).not.toContain(secret);
  for (const h of homes) h.cleanup();
});

async function run(home: string, args: string[], input?: string) {
  const r = await runInProcess(childEnv(home), args, input);
  printed.push(r.stdout, r.stderr);
  return r;
}

/** A home whose store holds one API key (a key file store, as tests use). */
async function homeWithKey() {
  const t = tempHome("authctl-doctor-");
  homes.push(t);
  expect((await run(t.home, ["key", "stripe", "--stdin"], secret)).exitCode).toBe(0);
  return t.home;
}

const lineOf = (stdout: string, name: string) => stdout.split("\n").find((l) => new RegExp(`^(ok|FAIL)\\s+${name}\\s`).test(l));

describe.skipIf(!hasEngine)("authctl doctor", () => {
  it("a healthy home: every line ok, exit 0", async () => {
    const home = await homeWithKey();
    const r = await run(home, ["doctor", "--image", TEST_IMAGE]);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    for (const name of ["engine", "mode", "image", "store", "key", "keyring", "daemon", "clock"]) expect(lineOf(r.stdout, name), name).toMatch(/^ok\s/);
    expect(lines.every((l) => l.startsWith("ok"))).toBe(true);
    expect(lineOf(r.stdout, "key")).toContain("(0600)");
    expect(lineOf(r.stdout, "mode")).toMatch(/rootful|rootless/);
    expect(r.exitCode).toBe(0);
  }, 60_000);

  it("a service directory others can write, a missing image: the failing lines with their fixes, exit 1", async () => {
    const home = await homeWithKey();
    mkdirSync(join(home, "run"));
    chmodSync(join(home, "run"), 0o777);
    const r = await run(home, ["doctor", "--image", "localhost/authctl-absent:nope"]);
    expect(lineOf(r.stdout, "daemon")).toBe(
      `FAIL  daemon   the service directory ${join(home, "run")} is writable by other users (mode 777); fix: chmod 700 ${join(home, "run")} if it is yours, else remove it (its owner or root can) or point AUTHCTL_HOME at another home`,
    );
    expect(lineOf(r.stdout, "image")).toMatch(/^FAIL\s+image\s+localhost\/authctl-absent:nope is not in (podman|docker)'s images; fix: build or load localhost\/authctl-absent:nope into (podman|docker), or drop --image$/);
    expect(lineOf(r.stdout, "store")).toMatch(/^ok\s/);
    expect(r.exitCode).toBe(1);
  }, 60_000);

  it("an unreadable store and a key file others can read: failing lines with the fix", async () => {
    const t = tempHome("authctl-doctor-");
    homes.push(t);
    mkdirSync(t.home, { mode: 0o700 });
    writeFileSync(join(t.home, "credentials.db"), "this is not an SQLite database, it is long enough to have a header\n".repeat(20));
    const r = await run(t.home, ["doctor", "--image", TEST_IMAGE]);
    expect(lineOf(r.stdout, "store")).toMatch(new RegExp(`^FAIL\\s+store\\s+${join(t.home, "credentials.db")} cannot be read: .*; fix: move ${join(t.home, "credentials.db")} aside`));
    expect(r.exitCode).toBe(1);

    const home = await homeWithKey();
    chmodSync(join(home, "store.key"), 0o644);
    const k = await run(home, ["doctor", "--image", TEST_IMAGE]);
    expect(lineOf(k.stdout, "key")).toBe(`FAIL  key      key file ${join(home, "store.key")} has mode 644; fix: chmod 600 ${join(home, "store.key")}`);
    expect(k.exitCode).toBe(1);
  }, 60_000);

  // Spawns the built CLI for the daemon: run `npm run build` first.
  it("a running daemon: its pid and sockets are ok; a socket others can use is a failing line", async () => {
    const home = await homeWithKey();
    expect((await authctl(home, ["serve", "--detach"])).exitCode).toBe(0);
    try {
      const r = await run(home, ["doctor", "--image", TEST_IMAGE]);
      expect(lineOf(r.stdout, "daemon")).toMatch(new RegExp(`^ok\\s+daemon\\s+pid \\d+ \\(uid ${process.getuid!()}\\) at ${join(home, "run", "authctl.sock")} \\(0600\\)`));
      expect(r.exitCode).toBe(0);
      chmodSync(join(home, "run", "authctl.sock"), 0o666);
      const bad = await run(home, ["doctor", "--image", TEST_IMAGE]);
      expect(lineOf(bad.stdout, "daemon")).toBe(
        `FAIL  daemon   ${join(home, "run", "authctl.sock")} has mode 666; fix: authctl serve stop && authctl serve --detach (the daemon makes its sockets 0600)`,
      );
      expect(bad.exitCode).toBe(1);
    } finally {
      await authctl(home, ["serve", "stop"]);
    }
  }, 60_000);

  it("a stored token issued in this clock's future: the clock line fails with the fix; the token is never shown", async () => {
    const t = tempHome("authctl-doctor-");
    homes.push(t);
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const jwt = `${part({ alg: "none" })}.${part({ sub: secret, iat: Math.floor(Date.now() / 1000) + 3600 })}.${part({ sig: secret })}`;
    const stored = await run(t.home, ["key", "gh", "--stdin", "--force"], jwt);
    expect(stored.exitCode, stored.stderr).toBe(0);
    const r = await run(t.home, ["doctor", "--image", TEST_IMAGE]);
    expect(lineOf(r.stdout, "clock")).toMatch(/^FAIL\s+clock\s+default:gh was issued 3\d{3} s in this clock's future: this clock is behind; fix: sync the clock/);
    expect(r.stdout + r.stderr).not.toContain(jwt.split(".")[1]);
    expect(r.exitCode).toBe(1);
  }, 60_000);

  it("a project file: ok when its required providers are stored, else the failing line names the login to add; a refused file is a failing line", async () => {
    const home = await homeWithKey();
    const repo = join(home, "..", "repo");
    mkdirSync(join(repo, "sub"), { recursive: true });
    const inRepo = async () => {
      const m = memoryIO(childEnv(home));
      const exitCode = await runCli(["doctor", "--image", TEST_IMAGE], { ...m.io, cwd: join(repo, "sub") });
      printed.push(m.stdout(), m.stderr());
      return { exitCode, stdout: m.stdout() };
    };
    writeFileSync(join(repo, "authctl.yaml"), "require: [stripe]\n");
    const good = await inRepo();
    expect(lineOf(good.stdout, "project")).toBe(`ok    project  ${join(repo, "authctl.yaml")} (set default, requires stripe)`);
    expect(good.exitCode).toBe(0);
    writeFileSync(join(repo, "authctl.yaml"), "set: work\nrequire: [stripe, anthropic]\n");
    const missing = await inRepo();
    expect(lineOf(missing.stdout, "project")).toBe(
      `FAIL  project  ${join(repo, "authctl.yaml")} requires stripe, anthropic, not stored in set work; fix: authctl key stripe --set work; authctl key anthropic --set work`,
    );
    expect(missing.exitCode).toBe(1);
    writeFileSync(join(repo, "authctl.yaml"), "sett: work\n");
    const refused = await inRepo();
    expect(lineOf(refused.stdout, "project")).toMatch(new RegExp(`^FAIL\\s+project\\s+project file ${join(repo, "authctl.yaml")}: .*; fix: edit ${join(repo, "authctl.yaml")}`));
    expect(refused.exitCode).toBe(1);
  }, 60_000);

  it("--json: ok and one object per check (name, ok, detail, fix when broken)", async () => {
    const home = await homeWithKey();
    const good = await run(home, ["doctor", "--json", "--image", TEST_IMAGE]);
    const parsed = JSON.parse(good.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }> };
    expect(parsed.ok).toBe(true);
    expect(parsed.checks.map((c) => c.name)).toEqual(["engine", "mode", "image", "store", "key", "keyring", "daemon", "clock"]);
    for (const c of parsed.checks) expect(Object.keys(c).sort()).toEqual(["detail", "name", "ok"]);
    const bad = await run(home, ["doctor", "--json", "--image", "localhost/authctl-absent:nope"]);
    const image = (JSON.parse(bad.stdout) as typeof parsed).checks.find((c) => c.name === "image");
    expect(image).toMatchObject({ ok: false, fix: expect.stringContaining("build or load localhost/authctl-absent:nope") });
    expect(bad.exitCode).toBe(1);
  }, 60_000);
});
