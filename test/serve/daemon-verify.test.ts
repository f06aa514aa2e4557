import { execa } from "execa";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ServiceClient } from "../../src/access/client.js";
import { getCredentials } from "../../src/access/credentials.js";
import { Authctl } from "../../src/context.js";
import { UntrustedServiceError } from "../../src/core/errors.js";
import { CredentialStore } from "../../src/store/store.js";
import { useCleanups } from "../helpers/cleanups.js";
import { authctl, canary, childEnv, CLI, tempHome, testEnv } from "../helpers/env.js";
import { requireEngine } from "../helpers/engine.js";
import { ATTACKER, foreignDaemon } from "../helpers/fake-daemon.js";
import { countOccurrences } from "../helpers/leaks.js";
import { foregroundServe, waitFor } from "../helpers/serve-cli.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 18, findings 3 and 10: a client trusts only a daemon in a private directory of its own
 * user, served by its own uid or root; `serve stop` signals only that daemon; `container-args`
 * mounts and chowns only that daemon's proxy socket; `serve` never deletes what is not a socket.
 * The attacker is a real second account (uid 1001) running its own fake daemon.
 */
const hasEngine = requireEngine();
const cleanups = useCleanups();

function scratch(prefix: string, mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, mode);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A process that is not authctl's: what a stale or planted pid file may name. */
function bystander() {
  const sleep = spawn("sleep", ["60"], { stdio: "ignore" });
  cleanups.push(() => sleep.kill("SIGKILL"));
  return { pid: sleep.pid!, alive: () => sleep.exitCode === null && sleep.signalCode === null };
}

/** The attacker's fake daemon in `dir`, as uid 1001 (test/helpers/fake-daemon.ts); stopped after each test. */
const fakeDaemon = (dir: string, plant: { decoy: string; victim: number }) => foreignDaemon(dir, plant, cleanups);

/** A socket of root's own (the engine's API socket stands for it): its owner must never change. */
async function decoySocket(): Promise<string> {
  const path = join(scratch("authctl-decoy-"), "engine.sock");
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(path, () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return path;
}

/** The default home (no AUTHCTL_HOME) under a fresh HOME, with XDG_RUNTIME_DIR a world-writable dir anyone could fill first. */
function defaultHomeUser() {
  const user = scratch("authctl-user-");
  const xdg = scratch("authctl-xdg-", 0o1777);
  const env = { ...testEnv(), HOME: user, XDG_RUNTIME_DIR: xdg, NO_COLOR: "1" };
  const home = join(user, ".authctl");
  const key = canary("sk-ant-");
  const store = CredentialStore.open({ home, env });
  store.put("default", "anthropic", "api_key", { type: "api_key", key }, { preview: "sk-ant-…" });
  store.put("default", "claude", "api_key", { type: "api_key", key }, { preview: "sk-ant-…" });
  store.close();
  const cli = (args: string[]) => execa("node", [CLI, ...args], { env, extendEnv: false, reject: false, stdin: "ignore", timeout: 60_000 });
  return { xdg, env, home, key, cli, serviceDir: join(xdg, "authctl") };
}

/** An explicit AUTHCTL_HOME with its private run dir, and a way to start its daemon (`authctl serve`). */
function explicitHome() {
  const t = tempHome("authctl-stop-");
  cleanups.push(t.cleanup);
  const env = childEnv(t.home);
  const cli = (args: string[]) => authctl(t.home, args, { timeout: 60_000 });
  const run = join(t.home, "run");
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const socket = join(run, "authctl.sock");
  const serve = async () => {
    const daemon = foregroundServe(t.home);
    cleanups.push(() => daemon.kill("SIGKILL"));
    const started = () => {
      if (existsSync(socket)) return true;
      if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}) before its socket appeared`);
      return false;
    };
    await waitFor(started, "the daemon's socket", 20_000);
    return { daemon }; // wrapped: execa's result is a thenable, which an async function would await
  };
  return { ...t, env, cli, serve, pidFile: join(run, "serve.pid"), socket, proxySocket: join(run, "proxy.sock") };
}

describe("clients verify the daemon (finding 3)", () => {
  it("another account's fake daemon in a shared XDG_RUNTIME_DIR: run, status, stop and container-args refuse it; nothing reaches it", async () => {
    const u = defaultHomeUser();
    const decoy = await decoySocket();
    const victim = bystander();
    const fake = await fakeDaemon(u.serviceDir, { decoy, victim: victim.pid });

    const run = await u.cli(["run", "--", "sh", "-c", 'echo "socket=$AUTHCTL_SOCKET token=$AUTHCTL_TOKEN"']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe("socket= token=");
    expect(run.stderr).toContain(`${u.serviceDir} belongs to uid ${ATTACKER}`);
    expect(countOccurrences(`${run.stdout}${run.stderr}`, u.key)).toBe(0);

    const status = await u.cli(["serve", "status"]);
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain(`${u.serviceDir} belongs to uid ${ATTACKER}`);

    const stop = await u.cli(["serve", "stop"]);
    expect(stop.exitCode).not.toBe(0);
    expect(victim.alive(), "serve stop signalled the pid another account wrote into serve.pid").toBe(true);

    if (hasEngine) {
      const args = await u.cli(["container-args", "claude", "--json"]);
      expect(args.exitCode).not.toBe(0);
      expect(args.stderr).toContain(`belongs to uid ${ATTACKER}`);
      expect(statSync(decoy).uid, "container-args chowned a socket the fake daemon named").toBe(0);
    }
    expect(await fake.received()).toEqual([]);
  }, 120_000);

  it("a listener of another uid behind a private directory (moved in after any directory check) is refused by its peer uid, before the token is sent", async () => {
    const theirs = scratch("authctl-theirs-", 0o1777);
    const fake = await fakeDaemon(join(theirs, "d"), { decoy: "/nowhere", victim: 1 });
    const mine = scratch("authctl-mine-");
    const socketPath = join(mine, "authctl.sock");
    renameSync(fake.socket, socketPath);
    const token = canary("act_");
    const client = new ServiceClient({ socketPath, token });
    await expect(client.get("default", "anthropic")).rejects.toThrow(UntrustedServiceError);
    await expect(client.health()).rejects.toThrow(new RegExp(`${socketPath} is served by uid ${ATTACKER} \\(pid \\d+\\)`));
    expect(await fake.received()).toEqual([]);
  });

  it("a ServiceClient pointed into another account's directory sends nothing there", async () => {
    const xdg = scratch("authctl-xdg-", 0o1777);
    const fake = await fakeDaemon(join(xdg, "authctl"), { decoy: "/nowhere", victim: 1 });
    const token = canary("act_");
    await expect(new ServiceClient({ socketPath: fake.socket, token }).get("default", "anthropic")).rejects.toThrow(/belongs to uid 1001/);
    expect(await fake.received()).toEqual([]);
  });
});

describe("the sync client a child of run uses (finding 3)", () => {
  it("getCredentials with AUTHCTL_SOCKET in another account's directory: refused, and its token goes nowhere", async () => {
    const xdg = scratch("authctl-xdg-", 0o1777);
    const fake = await fakeDaemon(join(xdg, "authctl"), { decoy: "/nowhere", victim: 1 });
    const token = canary("act_");
    const home = join(scratch("authctl-child-"), "home");
    const context = new Authctl({ env: { ...testEnv(), AUTHCTL_HOME: home, AUTHCTL_SOCKET: fake.socket, AUTHCTL_TOKEN: token }, home });
    cleanups.push(() => context.close());
    expect(() => getCredentials("anthropic", { context })).toThrow(/belongs to uid 1001/);
    expect(await fake.received()).toEqual([]);
  });
});

describe("serve stop signals only this home's verified daemon (finding 3)", () => {
  it("a stale pid file naming an unrelated process: nothing is killed", async () => {
    const h = explicitHome();
    const victim = bystander();
    writeFileSync(h.pidFile, `${victim.pid}\n`, { mode: 0o600 });
    const stop = await h.cli(["serve", "stop"]);
    expect(stop.stderr).toContain("not running");
    await new Promise((r) => setTimeout(r, 200));
    expect(victim.alive(), "serve stop killed the process a stale pid file named").toBe(true);
  });

  it("a running daemon whose pid file names another process: the daemon stops, the other process lives", async () => {
    const h = explicitHome();
    const { daemon } = await h.serve();
    const victim = bystander();
    writeFileSync(h.pidFile, `${victim.pid}\n`);
    const stop = await h.cli(["serve", "stop"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(victim.alive(), "serve stop killed the process the pid file named instead of the daemon").toBe(true);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`stopped the authctl service (pid ${daemon.pid})`);
    expect((await daemon).exitCode).toBe(0);
  }, 60_000);
});

describe.skipIf(!hasEngine)("container-args mounts and chowns only its verified daemon's proxy socket (finding 3)", () => {
  it("--socket naming another socket (root's own, standing in for the engine's API socket) is refused and left as it was; the daemon's own is used", async () => {
    const h = explicitHome();
    const store = CredentialStore.open({ home: h.home, env: h.env });
    store.put("default", "claude", "api_key", { type: "api_key", key: canary("sk-ant-") }, { preview: "sk-ant-…" });
    store.close();
    await h.serve();
    const decoy = await decoySocket();
    const refused = await h.cli(["container-args", "claude", "--socket", decoy, "--session", "decoy-1", "--json"]);
    expect(statSync(decoy).uid, "container-args chowned a socket that is not its daemon's").toBe(0);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`${decoy} is not the proxy socket of this home's authctl daemon (${h.proxySocket})`);
    expect(existsSync(join(h.home, "agent-sessions", "decoy-1"))).toBe(false);
    const own = await h.cli(["container-args", "claude", "--socket", h.proxySocket, "--session", "own-1", "--json"]);
    expect(own.exitCode, own.stderr).toBe(0);
    expect((JSON.parse(own.stdout) as { mounts: Array<{ host: string }> }).mounts[0]!.host).toBe(h.proxySocket);
  }, 60_000);
});

describe("serve never deletes what is not its socket (finding 10)", () => {
  function context(extra: Record<string, string>) {
    const dir = scratch("authctl-sock-");
    const home = join(dir, "home");
    const ctx = new Authctl({ env: { ...testEnv(), AUTHCTL_HOME: home, ...extra }, home });
    cleanups.push(() => ctx.close());
    return ctx;
  }
  async function refused(ctx: Authctl, options: Parameters<typeof listeningService>[1] = {}) {
    const started = listeningService(ctx, options);
    cleanups.push(() => started.then((s) => s.stop()).catch(() => {}));
    return started;
  }

  it("AUTHCTL_SOCKET naming a regular file: refused, and the file is left as it was", async () => {
    const file = join(scratch("authctl-file-"), "notes.txt");
    writeFileSync(file, "keep me\n");
    await expect(refused(context({ AUTHCTL_SOCKET: file }))).rejects.toThrow(`${file} exists and is not a socket`);
    expect(readFileSync(file, "utf8")).toBe("keep me\n");
  });

  it("the proxy socket naming a regular file: refused, the file kept", async () => {
    const file = join(scratch("authctl-file-"), "proxy.sock");
    writeFileSync(file, "keep me too\n");
    await expect(refused(context({}), { proxy: { socketPath: file } })).rejects.toThrow(`${file} exists and is not a socket`);
    expect(readFileSync(file, "utf8")).toBe("keep me too\n");
  });

  it("AUTHCTL_SOCKET in a directory others can write (or a symlink to one of ours): refused", async () => {
    const shared = scratch("authctl-shared-", 0o1777);
    await expect(refused(context({ AUTHCTL_SOCKET: join(shared, "s.sock") }))).rejects.toThrow(/writable by other users \(mode 1777\)/);
    expect(existsSync(join(shared, "s.sock"))).toBe(false);
    const link = join(scratch("authctl-link-"), "run");
    symlinkSync(scratch("authctl-target-"), link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    await expect(refused(context({ AUTHCTL_SOCKET: join(link, "s.sock") }))).rejects.toThrow(/is a symbolic link/);
  });
});
