import { chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { accountWithUid, runAs } from "./helpers/accounts.js";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { runInPty } from "./helpers/pty.js";

const PASSPHRASE = "violet staple orbit 42 lantern";
const OTHER_UID = 1000;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A passphrase store holding one API key; its daemon is stopped at the end. */
async function passphraseHome() {
  const t = tempHome("authctl-unlock-");
  const key = canary("sk_test_");
  const stored = await authctl(t.home, ["key", "stripe", "--stdin"], { input: key, extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
  expect(stored.exitCode, stored.stderr).toBe(0);
  cleanups.push(t.cleanup);
  cleanups.push(() => authctl(t.home, ["serve", "stop"]));
  // A command that needs the store key, and no passphrase source: no env var, no terminal.
  const useKey = () => authctl(t.home, ["run", "--no-token", "--only", "stripe", "--", "sh", "-c", 'test -n "$STRIPE_API_KEY" && echo has-key']);
  return { ...t, key, useKey, socket: join(t.home, "run", "authctl.sock") };
}

function noLeak(h: { key: string }, ...outputs: string[]) {
  for (const o of outputs) {
    expect(o).not.toContain(h.key);
    expect(o).not.toContain(PASSPHRASE);
  }
}

describe("authctl unlock / lock: a passphrase store's key held by this home's daemon, in memory, for a while", () => {
  it("unlock, then commands need no passphrase; lock, then they are refused again", async () => {
    const h = await passphraseHome();
    const before = await h.useKey();
    expect(before.exitCode).toBe(1);
    expect(before.stderr).toContain("protected by a passphrase");

    const unlocked = await authctl(h.home, ["unlock", "--for", "1h", "--json"], { extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
    expect(unlocked.exitCode, unlocked.stderr).toBe(0);
    expect(JSON.parse(unlocked.stdout)).toMatchObject({ unlocked: true, until: expect.stringMatching(/Z$/) });
    // The daemon started quietly: nothing of it on the unlocking command's output.
    expect(unlocked.stdout).not.toContain("listening");

    const during = await h.useKey();
    expect(during.exitCode, during.stderr).toBe(0);
    expect(during.stdout.trim()).toBe("has-key");
    const status = await authctl(h.home, ["status", "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ unlockedBy: "unlock session", lockProblem: null });

    const locked = await authctl(h.home, ["lock", "--json"]);
    expect(JSON.parse(locked.stdout)).toEqual({ locked: true, wasUnlocked: true });
    const after = await h.useKey();
    expect(after.exitCode).toBe(1);
    expect(after.stderr).toContain("protected by a passphrase");
    noLeak(h, unlocked.stdout, unlocked.stderr, during.stdout, during.stderr, status.stdout, locked.stdout, after.stderr);
  });

  it("the session ends by itself after --for", async () => {
    const h = await passphraseHome();
    const unlocked = await authctl(h.home, ["unlock", "--for", "10s"], { extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
    expect(unlocked.exitCode, unlocked.stderr).toBe(0);
    expect(unlocked.stdout).toMatch(/^unlocked until .*authctl lock/);
    const until = Date.now() + 10_000;
    expect((await h.useKey()).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 500));
    const expired = await h.useKey();
    expect(expired.exitCode).toBe(1);
    expect(expired.stderr).toContain("protected by a passphrase");
    const lock = await authctl(h.home, ["lock", "--json"]);
    expect(lock.exitCode, lock.stderr).toBe(0);
    expect(JSON.parse(lock.stdout)).toEqual({ locked: true, wasUnlocked: false });
  });

  it("a wrong passphrase unlocks nothing; a store without a passphrase has nothing to unlock; --for is bounded", async () => {
    const h = await passphraseHome();
    const wrong = await authctl(h.home, ["unlock"], { extraEnv: { AUTHCTL_PASSPHRASE: "not the passphrase at all" } });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toContain("wrong passphrase");
    expect((await h.useKey()).exitCode).toBe(1);
    expect((await authctl(h.home, ["unlock", "--for", "3d"], { extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } })).stderr).toContain("at most 24h");

    const plain = tempHome("authctl-unlock-");
    cleanups.push(plain.cleanup);
    await authctl(plain.home, ["key", "stripe", "--stdin"], { input: canary("sk_test_") });
    const none = await authctl(plain.home, ["unlock"]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain("not behind a passphrase: there is nothing to unlock");
  });

  it("another account cannot take the unlocked key: the socket's directory shuts it out, and past that the daemon's uid check", async () => {
    accountWithUid(OTHER_UID);
    const h = await passphraseHome();
    expect((await authctl(h.home, ["unlock", "--for", "1h"], { extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } })).exitCode).toBe(0);
    // The attacker asks the daemon for the session key directly, as any client would.
    const ask = `const http=require("node:http");const r=http.request({socketPath:${JSON.stringify(h.socket)},path:"/v1/session/key",method:"POST",headers:{"content-type":"application/json"}},(res)=>{let b="";res.on("data",(c)=>b+=c);res.on("end",()=>console.log(res.statusCode,b))});r.on("error",(e)=>console.log("error",e.code));r.end("{}");`;
    // The temp dirs above the home are the test's own: open them so only authctl's own modes stand in the way.
    for (let dir = h.home; dir !== "/tmp" && dir !== "/"; dir = dirname(dir)) chmodSync(dir, 0o755);
    const shutOut = runAs(OTHER_UID, ["/usr/bin/node", "-e", ask]);
    expect(shutOut.stdout.trim()).toBe("error EACCES");

    // Past a directory and socket someone opened by mistake, the daemon still reads the caller's uid.
    chmodSync(dirname(h.socket), 0o755);
    chmodSync(h.socket, 0o666);
    const refused = runAs(OTHER_UID, ["/usr/bin/node", "-e", ask]);
    expect(refused.stdout).toMatch(/^403 .*neither the service's uid/);
    noLeak(h, shutOut.stdout, shutOut.stderr, refused.stdout, refused.stderr);
    // The owner still gets it: the refusal was the uid's, not a broken session.
    chmodSync(dirname(h.socket), 0o700);
    expect((await h.useKey()).exitCode).toBe(0);
  });

  it("a weak passphrase is refused with the reason when a store is created on a terminal; a strong one is taken", async () => {
    const t = tempHome("authctl-unlock-");
    cleanups.push(t.cleanup);
    const key = canary("sk_test_");
    // No keyring answers, so the first secret offers a passphrase instead of a key file.
    const env = childEnv(t.home, { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/authctl-test-bus", AUTHCTL_STORE_KEY: "auto" });
    const run = runInPty(["node", CLI, "key", "stripe"], env);
    await run.waitFor(/STRIPE_API_KEY: $/m);
    run.type(key + "\r");
    await run.waitFor(/with a passphrase\? .*\[y\/N\] /);
    run.type("y\r");
    // The n-th time the passphrase is asked for (each refusal asks again).
    const asked = (n: number) => run.waitFor(new RegExp(`(new store passphrase: [\\s\\S]*){${n}}`));
    await asked(1);
    run.type("hunter2\r");
    await run.waitFor(/too weak \(it has 7 characters, fewer than 12\)/);
    await asked(2);
    run.type("abababababababab\r");
    await run.waitFor(/too weak \(it repeats a few characters \(2 different in 16\)\)/);
    await asked(3);
    run.type(PASSPHRASE + "\r");
    await run.waitFor(/repeat it: $/m);
    run.type(PASSPHRASE + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(run.output()).toContain("try a few unrelated words");
    noLeak({ key }, run.output());
    const status = await authctl(t.home, ["status", "--json"], { extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
    expect(JSON.parse(status.stdout)).toMatchObject({ keyKind: "scrypt", unlockedBy: "AUTHCTL_PASSPHRASE" });
  });

  it("run on a passphrase store typed at a terminal, with no session: no daemon it cannot unlock, no 'did not start', no wait", async () => {
    const h = await passphraseHome();
    const started = Date.now();
    const run = runInPty(["node", CLI, "run", "--only", "stripe", "--", "sh", "-c", 'echo "token=${AUTHCTL_TOKEN:-none} key=${#STRIPE_API_KEY}"'], childEnv(h.home));
    await run.waitFor(/store passphrase: $/m);
    run.type(PASSPHRASE + "\r");
    expect((await run.child).exitCode, run.output()).toBe(0);
    expect(run.output()).toMatch(/token=none key=\d+/);
    expect(run.output()).toContain("`authctl unlock` starts one that does");
    expect(run.output()).not.toContain("did not start");
    expect(Date.now() - started).toBeLessThan(15_000);
    noLeak(h, run.output());
  });
});
