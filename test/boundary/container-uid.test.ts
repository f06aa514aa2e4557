import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountWithUid, idIsOwned, runAs } from "../helpers/accounts.js";
import { authctl, canary, childEnv, tempHome } from "../helpers/env.js";
import { ENGINE, removeContainers, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { startProxyServe } from "../helpers/proxy-serve.js";
import { runInPty } from "../helpers/pty.js";
import { useFakeVendor } from "../helpers/roster.js";

/**
 * Issue 18 finding 1: on a rootful engine the image's user (uid 1000) was host uid 1000, so the
 * host account with that uid read a container's environ and walked through /proc/<pid>/root past
 * every 0700 parent. Here that account is real (created when missing) and attacks a login
 * container and an agent container while they run.
 */
const hasEngine = requireEngine();
const IMAGE_UID = 1000;
const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === "true") throw new Error("CI=true: the container-uid boundary test runs as root (it creates a second account)");

const t = tempHome("authctl-uid-");
const containers: string[] = [];
afterAll(() => {
  removeContainers(...containers);
  t.cleanup();
});

const pidOf = (name: string) => Number(spawnSync(ENGINE, ["inspect", "--format", "{{.State.Pid}}", name], { encoding: "utf8" }).stdout.trim());
const hostUidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

describe.runIf(hasEngine && isRoot)("containers authctl starts belong to no host account (issue 18.1)", () => {
  let attacker = "";
  beforeAll(() => {
    attacker = accountWithUid(IMAGE_UID);
  });

  it("a login container: the account at the image's uid can neither read its env nor reach its mount through /proc", async () => {
    useFakeVendor(t.home, "claude");
    const prepared = await authctl(t.home, ["session", "prepare", "claude", "--project", "puid", "--image", TEST_IMAGE, "--json"]);
    expect(prepared.exitCode, String(prepared.stderr)).toBe(0);
    const session = JSON.parse(String(prepared.stdout)) as { id: string; argv: string[]; containerName: string };
    containers.push(session.containerName);
    const login = runInPty(session.argv, childEnv(t.home));
    await login.waitFor(/Paste code here:\s*$/m);

    const pid = pidOf(session.containerName);

    const environ = runAs(IMAGE_UID, ["cat", `/proc/${pid}/environ`]);
    expect(environ.status, `${attacker} read the login container's environ`).not.toBe(0);
    const mount = runAs(IMAGE_UID, ["ls", "-a", `/proc/${pid}/root/home/dev/.claude`]);
    expect(mount.status, `${attacker} listed the login's mount: ${mount.stdout}`).not.toBe(0);
    const planted = runAs(IMAGE_UID, ["sh", "-c", `printf '{}' > /proc/${pid}/root/home/dev/.claude/.credentials.json`]);
    expect(planted.status, `${attacker} planted a credential file`).not.toBe(0);
    const uid = hostUidOf(pid);
    expect(uid, "the login runs as a uid some host account owns").not.toBe(IMAGE_UID);
    expect(idIsOwned(uid), `host uid ${uid} belongs to an account or a subordinate range`).toBe(false);

    login.type(`${canary()}\r`);
    expect((await login.child).exitCode, login.output()).toBe(0);
    const captured = await authctl(t.home, ["session", "capture", session.id, "--json"]);
    expect(captured.exitCode, String(captured.stderr)).toBe(0);
    expect((await authctl(t.home, ["session", "cleanup", session.id])).exitCode).toBe(0);
  });

  it("an agent container: its phantom env and the mounted proxy socket stay out of reach of the account at the image's uid", async () => {
    const key = canary("sk-ant-");
    expect((await authctl(t.home, ["key", "anthropic", "--set", "puid", "--stdin"], { input: key })).exitCode).toBe(0);
    const proxy = await startProxyServe(t.home, []);
    try {
      const args = await authctl(t.home, ["container-args", "anthropic", "--set", "puid", "--json"]);
      expect(args.exitCode, String(args.stderr)).toBe(0);
      const agent = JSON.parse(String(args.stdout)) as { runArgs: string[]; env: Record<string, string>; sessionId: string };
      const name = `authctl-uid-agent-${process.pid}`;
      containers.push(name);
      const run = spawnSync(ENGINE, ["run", "-d", "--rm", "--network", "none", "--name", name, ...agent.runArgs, TEST_IMAGE, "sleep", "300"], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      const pid = pidOf(name);
      // The container itself can still use its socket.
      const inside = spawnSync(ENGINE, ["exec", name, "sh", "-c", "test -S /run/authctl/proxy.sock && test -w /run/authctl/proxy.sock && echo ok"], { encoding: "utf8" });
      expect(inside.stdout.trim(), inside.stderr).toBe("ok");

      const environ = runAs(IMAGE_UID, ["cat", `/proc/${pid}/environ`]);
      expect(environ.status, `${attacker} read the agent's environ`).not.toBe(0);
      const socket = runAs(IMAGE_UID, ["ls", "-l", `/proc/${pid}/root/run/authctl/proxy.sock`]);
      expect(socket.status, `${attacker} reached the agent's proxy socket: ${socket.stdout}`).not.toBe(0);
      expect(statSync(proxy.info.proxySocket!).uid, "the host proxy socket was handed to the account at the image's uid").not.toBe(IMAGE_UID);
      const uid = hostUidOf(pid);
      expect(uid).not.toBe(IMAGE_UID);
      expect(idIsOwned(uid), `host uid ${uid} belongs to an account or a subordinate range`).toBe(false);
      removeContainers(name);
      expect((await authctl(t.home, ["proxy", "revoke", agent.sessionId])).exitCode).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
