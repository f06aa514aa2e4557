import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { RemoveTreeError } from "../../src/core/removeTree.js";
import { containerUserFor } from "../../src/engine/index.js";
import { planSharedMountRemoval } from "../../src/logins/container/sharedMount.js";
import { createLoginDir, removeLoginDir } from "../../src/logins/container/loginDir.js";
import { prepareAgentContainer, removeAgentSessionFiles } from "../../src/proxy/agentContainer.js";
import { verifyPhantom } from "../../src/proxy/phantoms.js";
import { baseEnv } from "../helpers/context.js";
import { canary, childEnv, tempHome } from "../helpers/env.js";
import { ENGINE, removeContainers, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { runInProcess } from "../helpers/memory-io.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 18, finding 2: a hostile agent must not get authctl to delete host files. The container has
 * its config dir mounted read-write while authctl deletes the dir that holds it (`proxy revoke`, a
 * login's cleanup). The attacker fills a subdirectory with files, waits until the host starts
 * unlinking them (the first name, in name or directory order, vanishes), then renames it away
 * and puts a symlink to a HOST directory in its place. A deletion that goes by path resolves that
 * symlink on the host, so every later unlink lands in the victim dir, which the container itself
 * can neither see nor write (root's, 0700, never mounted). The victim's names match the
 * subdirectory's, so any unlink that follows the symlink deletes a victim file.
 */
const hasEngine = requireEngine();
const FILES = 2000;
const VICTIMS = 200;
const CONFIG = "/home/dev/.claude";
const NAME_PREFIX = `authctl-revoke-race-${process.pid}-`;

/**
 * The hostile agent, inside the container: `swapped` in its log proves the swap happened, so a run
 * where the host was too quick (or too slow) cannot pass as a defended one.
 */
function attackScript(victim: string): string {
  return [
    `cd ${CONFIG} || exit 9`,
    "mkdir d",
    `seq -w 0 ${FILES - 1} | while read n; do : > d/f$n; done`,
    // The host unlinks in name order (libuv sorts) or directory order: the first entry of either going is the signal.
    "first=$(find d -mindepth 1 | head -1)",
    ": > ready",
    'while [ -e "$first" ] && [ -e d/f0000 ]; do :; done',
    `mv d x && ln -s '${victim}' d && echo swapped`,
    "sleep 300",
  ].join("\n");
}

describe.runIf(hasEngine)(`a hostile container swaps a dir for a symlink while authctl deletes its files (${ENGINE})`, () => {
  const t = tempHome("authctl-revoke-race-");
  const root = join(t.home, "..");
  const context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home, TMPDIR: join(root, "tmp") } });
  const started: string[] = [];
  let service: Awaited<ReturnType<typeof listeningService>> | undefined;

  beforeAll(async () => {
    mkdirSync(join(root, "tmp"), { recursive: true, mode: 0o700 });
    const store = context.store();
    store.put("race", "claude", "api_key", { type: "api_key", key: canary("sk-ant-") }, { preview: "sk-ant-…" });
    // Its proxy socket is what the agent containers get mounted (nothing here talks to it).
    service = await listeningService(context);
  });

  afterAll(async () => {
    removeContainers(...started);
    await service?.stop();
    context.store().close();
    t.cleanup();
  }, 120_000);

  /** A host dir the container cannot reach, its files named like the middle of the attacker's. */
  function victimDir(name: string): string {
    const dir = join(root, name);
    mkdirSync(dir, { mode: 0o700 });
    const first = (FILES - VICTIMS) / 2;
    for (let i = first; i < first + VICTIMS; i++) writeFileSync(join(dir, `f${String(i).padStart(4, "0")}`), "keep me\n");
    return dir;
  }

  /** Starts `script` in a container with `runArgs` and waits until it says `ready` under `hostConfig`. */
  async function startAttacker(runArgs: string[], hostConfig: string, script: string): Promise<string> {
    const name = `${NAME_PREFIX}${started.length}`;
    started.push(name);
    const run = await execa(ENGINE, ["run", "-d", "--rm", "--network", "none", ...runArgs, "--name", name, TEST_IMAGE, "sh", "-c", script], { reject: false });
    expect(run.exitCode, String(run.stderr)).toBe(0);
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(hostConfig, "ready"))) {
      if (Date.now() > deadline) throw new Error(`the attacker never got ready: ${String((await execa(ENGINE, ["logs", name], { reject: false })).all)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return name;
  }

  /** What the deletion did to the host, once the attacker is gone. */
  async function stopAttacker(name: string): Promise<string> {
    const logs = await execa(ENGINE, ["logs", name], { reject: false, all: true });
    removeContainers(name);
    return String(logs.all);
  }

  const attempt = async (remove: () => unknown): Promise<unknown> => {
    try {
      await remove();
      return undefined;
    } catch (error) {
      return error;
    }
  };

  it("proxy revoke's removeAgentSessionFiles deletes no host file, and removes the session once the container is gone", async () => {
    const agent = await prepareAgentContainer("claude", { context, set: "race", sessionId: "race-agent-1" });
    const hostConfig = agent.mounts.find((m) => m.container === CONFIG)!.host;
    const victim = victimDir("victim-agent");
    const name = await startAttacker(agent.runArgs, hostConfig, attackScript(victim));

    const failure = await attempt(() => removeAgentSessionFiles(agent.sessionId, { context }));
    const logs = await stopAttacker(name);

    expect(logs, "the attacker never swapped: the race was not run").toContain("swapped");
    expect(readdirSync(victim).length, `host files deleted through the container's symlink (removal: ${String(failure)})`).toBe(VICTIMS);
    if (failure !== undefined) expect(failure).toBeInstanceOf(RemoveTreeError);
    // With the container gone nothing changes the dir any more: a second revoke finishes the job.
    if (existsSync(agent.sessionDir)) expect(removeAgentSessionFiles(agent.sessionId, { context })).toBe(true);
    expect(existsSync(agent.sessionDir)).toBe(false);
    expect(readdirSync(victim).length).toBe(VICTIMS);
  }, 180_000);

  it("removeLoginDir (a login's cleanup) deletes no host file through the login container's mount", async () => {
    const engine = await context.engine();
    const tempRoot = join(root, "tmp");
    const user = containerUserFor(engine, { uid: 1000, home: "/home/dev" });
    const authDir = await createLoginDir(`${NAME_PREFIX}login`, user.owner, tempRoot);
    const victim = victimDir("victim-login");
    const runArgs = [...user.args, "-v", `${authDir}:${CONFIG}`];
    const name = await startAttacker(runArgs, authDir, attackScript(victim));

    let left: string | undefined;
    const failure = await attempt(async () => (left = await removeLoginDir(authDir, tempRoot)));
    const logs = await stopAttacker(name);
    if (left !== undefined) expect(left).toMatch(/only partly removed .*: remove it once its login container has stopped/);

    expect(logs, "the attacker never swapped: the race was not run").toContain("swapped");
    expect(readdirSync(victim).length, `host files deleted through the container's symlink (removal: ${String(failure)})`).toBe(VICTIMS);
    if (existsSync(authDir)) expect(await removeLoginDir(authDir, tempRoot)).toBeUndefined();
    expect(existsSync(join(authDir, ".."))).toBe(false);
    expect(readdirSync(victim).length).toBe(VICTIMS);
  }, 180_000);

  it("proxy revoke while the container keeps writing: the phantoms are revoked first; the removal finishes or says what to do", async () => {
    const agent = await prepareAgentContainer("claude", { context, set: "race", sessionId: "race-agent-busy" });
    const phantom = agent.env.ANTHROPIC_API_KEY!;
    expect(verifyPhantom(phantom, { context })).toBeDefined();
    const hostConfig = agent.mounts.find((m) => m.container === CONFIG)!.host;
    // Four writers adding files (shell builtins only) as fast as they can, until the container stops.
    const writer = (n: number) => `(i=0; while :; do : > w${n}-$i; i=$((i+1)); done) &`;
    const name = await startAttacker(agent.runArgs, hostConfig, [`cd ${CONFIG} || exit 9`, ...[1, 2, 3, 4].map(writer), ": > ready", "wait"].join("\n"));

    const env = childEnv(t.home);
    const busy = await runInProcess(env, ["proxy", "revoke", agent.sessionId]);
    await stopAttacker(name);

    expect(busy.stdout).toContain(`revoked 2 phantom token(s) of session ${agent.sessionId}`);
    expect(verifyPhantom(phantom, { context })).toBeUndefined();
    // Whether the writers outpace the deletion is up to the scheduler: either it finished, or it
    // says what is left and what to do, never an unexpected error.
    if (busy.exitCode === 0) {
      expect(busy.stdout).toContain("removed its agent container files");
    } else {
      expect(busy.exitCode, busy.stderr).toBe(1);
      expect(busy.stderr).toContain("its phantoms are revoked, so what is left grants nothing");
      expect(busy.stderr).toContain(`stop its container, then run \`authctl proxy revoke ${agent.sessionId}\` again`);
    }
    expect(busy.stderr).not.toMatch(/unexpected error|\n\s+at /);

    const again = await runInProcess(env, ["proxy", "revoke", agent.sessionId]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(existsSync(agent.sessionDir)).toBe(false);
  }, 180_000);

  // chattr needs root (CI runs as root): an entry no deletion can take, so the refusal path runs every time.
  it.runIf(process.getuid?.() === 0)("proxy revoke with a file it cannot delete: exit 1 after the phantoms are revoked, saying what is left and what to do", async () => {
    const agent = await prepareAgentContainer("claude", { context, set: "race", sessionId: "race-agent-stuck" });
    const phantom = agent.env.ANTHROPIC_API_KEY!;
    const pinned = join(agent.mounts.find((m) => m.container === CONFIG)!.host, "pinned");
    writeFileSync(pinned, "");
    await execa("chattr", ["+i", pinned]);
    const env = childEnv(t.home);
    try {
      const stuck = await runInProcess(env, ["proxy", "revoke", agent.sessionId]);
      expect(stuck.stdout).toContain(`revoked 2 phantom token(s) of session ${agent.sessionId}`);
      expect(verifyPhantom(phantom, { context })).toBeUndefined();
      expect(stuck.exitCode, stuck.stderr).toBe(1);
      expect(stuck.stderr).toContain(`${agent.sessionDir}: agent session ${agent.sessionId}'s files are only partly removed (${pinned}: could not be removed (EPERM))`);
      expect(stuck.stderr).toContain(`its phantoms are revoked, so what is left grants nothing: stop its container, then run \`authctl proxy revoke ${agent.sessionId}\` again`);
      expect(stuck.stderr).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      await execa("chattr", ["-i", pinned], { reject: false });
    }
    const again = await runInProcess(env, ["proxy", "revoke", agent.sessionId]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain("revoked 0 phantom token(s)");
    expect(again.stdout).toContain("removed its agent container files");
    expect(existsSync(agent.sessionDir)).toBe(false);
  });

  it("creds rm's shared-mount removal unlinks no host file when the container swaps a directory above the copy", async () => {
    const engine = await context.engine();
    const user = containerUserFor(engine, { uid: 1000, home: "/home/dev" });
    // A roster entry whose credential file sits one directory down, as a user's provider file may say.
    const claude = context.roster().get("claude").oauth!;
    const oauth = { ...claude, capture: { ...claude.capture, files: claude.capture.files.map((f) => ({ ...f, path: `nested/${f.path}` })) } };
    const file = claude.capture.files[0]!.path;
    const mountsDir = join(root, "mounts");
    const shared = join(mountsDir, "race", oauth.host_dir_name);
    mkdirSync(join(shared, "nested"), { recursive: true, mode: 0o700 });
    writeFileSync(join(shared, "nested", file), "the exposed copy\n", { mode: 0o600 });
    if (user.owner !== null) for (const p of [shared, join(shared, "nested"), join(shared, "nested", file)]) chownSync(p, user.owner, user.owner);
    const victim = join(root, "victim-mount");
    mkdirSync(victim, { mode: 0o700 });
    writeFileSync(join(victim, file), "keep me\n");
    // The swap comes after authctl checked the mount and before it unlinks (inotify would time it; here the host says when).
    const script = [`cd ${CONFIG} || exit 9`, ": > ready", "while [ ! -e go ]; do usleep 10000; done", `mv nested nested.x && ln -s '${victim}' nested && : > swapped && echo swapped`, "sleep 300"].join("\n");
    const name = await startAttacker([...user.args, "-v", `${shared}:${CONFIG}`], shared, script);

    const plan = await planSharedMountRemoval(mountsDir, oauth, "race", "claude");
    expect(plan.files).toEqual([join(shared, "nested", file)]);
    writeFileSync(join(shared, "go"), "");
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(shared, "swapped")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const failure = await attempt(() => plan.commit());
    const logs = await stopAttacker(name);

    expect(logs, "the attacker never swapped: the race was not run").toContain("swapped");
    expect(existsSync(join(victim, file)), `a host file deleted through the container's symlink (removal: ${String(failure)})`).toBe(true);
    expect(String(failure)).toMatch(/shared mount race\/_claude-config\/nested.*not a real directory/);
  }, 180_000);
});
