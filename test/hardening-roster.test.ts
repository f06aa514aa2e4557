import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { Authctl } from "../src/context.js";
import { RosterError, UsageError } from "../src/core/errors.js";
import { prepareOAuthSession } from "../src/logins/container/session.js";
import { BUILTIN_ROSTER_DIR, loadRoster, parseProviderFile } from "../src/roster/load.js";
import { authctl, childEnv, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

/** Issue 11, findings 13, 15 (roster half) and 16: hostile roster files and engine input. */
const homes: Array<() => void> = [];
afterAll(() => homes.forEach((cleanup) => cleanup()));

function freshHome(): { home: string; agents: string } {
  const t = tempHome("authctl-hardening-roster-");
  homes.push(t.cleanup);
  const agents = join(t.home, "agents");
  mkdirSync(agents, { recursive: true });
  return { home: t.home, agents };
}

/** The shipped claude entry with `change` applied to its oauth block, as roster YAML. */
function claudeWith(change: (oauth: Record<string, unknown>) => void): string {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "claude.yaml"), "utf8"));
  change(entry.oauth);
  return stringify(entry);
}

function rosterErrorOf(text: string): RosterError {
  try {
    parseProviderFile("/x/agents/claude.yaml", text);
  } catch (err) {
    expect(err).toBeInstanceOf(RosterError);
    return err as RosterError;
  }
  throw new Error("the roster file was accepted");
}

describe("hardening: roster and engine input (issue 11)", () => {
  it("13: a FIFO, a symlink to /dev/zero, a directory or a huge file in agents/ is refused at once, naming it", async () => {
    const hostile: Array<[string, (path: string) => void, RegExp]> = [
      ["x.yaml", (p) => execFileSync("mkfifo", [p]), /agents\/x\.yaml: is not a regular file \(fifo\)/],
      ["z.yaml", (p) => symlinkSync("/dev/zero", p), /agents\/z\.yaml: is not a regular file \(character device\)/],
      ["dir.yaml", (p) => mkdirSync(p), /agents\/dir\.yaml: is not a regular file \(directory\)/],
      ["big.yaml", (p) => writeFileSync(p, `# ${"x".repeat(300 * 1024)}\n`), /agents\/big\.yaml: is \d+ bytes, over the 256 KiB limit/],
    ];
    for (const [name, plant, message] of hostile) {
      const { home, agents } = freshHome();
      plant(join(agents, name));
      const started = Date.now();
      const r = await authctl(home, ["providers"], { timeout: 5_000 });
      expect(r.timedOut, `${name}: authctl providers hung`).toBe(false);
      // Skipped with a warning naming it: the shipped providers still list.
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout)).toContain("anthropic");
      expect(String(r.stderr)).toMatch(message);
      expect(String(r.stderr)).toMatch(/move it out of .*agents|replace it with a provider file/);
      expect(String(r.stderr)).not.toMatch(/unexpected error|EISDIR/);
      expect(Date.now() - started).toBeLessThan(4_000);
    }
    // A symlink to a regular provider file (a dotfiles checkout) still works.
    const { home, agents } = freshHome();
    const elsewhere = join(home, "..", "claude.yaml");
    writeFileSync(elsewhere, claudeWith((o) => (o.banner_hint = "from my dotfiles")));
    symlinkSync(elsewhere, join(agents, "claude.yaml"));
    expect(loadRoster({ userDir: agents }).get("claude").oauth?.banner_hint).toBe("from my dotfiles");
  });

  it("15: extra_run_args that open the host to the login container are refused unless the file opts in", () => {
    const unsafe: Array<[string[], string]> = [
      [["--env-host"], "--env-host"],
      [["--privileged"], "--privileged"],
      [["--pid=host"], "--pid=host"],
      [["--network", "host"], "--network host"],
      [["--net=host"], "--net=host"],
      [["--userns=host"], "--userns=host"],
      [["--ipc", "host"], "--ipc host"],
      [["--cap-add", "SYS_ADMIN"], "--cap-add SYS_ADMIN"],
      [["--security-opt", "seccomp=unconfined"], "--security-opt seccomp=unconfined"],
      [["-v", "/:/host"], "-v /:/host"],
      [["--volume=/etc:/etc:ro"], "--volume=/etc:/etc:ro"],
      [["-itv", "/root:/r"], "-itv /root:/r"],
      [["--mount", "type=bind,src=/,dst=/host"], "--mount type=bind,src=/,dst=/host"],
      [["--device", "/dev/kmsg"], "--device /dev/kmsg"],
      [["--env-file", "/root/.env"], "--env-file /root/.env"],
      [["-e", "X=1", "--pid=container:other"], "--pid=container:other"],
    ];
    for (const [args, flag] of unsafe) {
      const err = rosterErrorOf(claudeWith((o) => (o.extra_run_args = args)));
      expect(err.message, args.join(" ")).toContain("roster: /x/agents/claude.yaml: oauth.extra_run_args");
      expect(err.message, args.join(" ")).toContain(`"${flag}"`);
      expect(err.message, args.join(" ")).toContain("allow_unsafe_run_args: true");
    }
    // Opted in: the same args load (the file's author takes responsibility).
    const optedIn = claudeWith((o) => Object.assign(o, { extra_run_args: ["--env-host", "--network=host"], allow_unsafe_run_args: true }));
    expect(parseProviderFile("/x/agents/claude.yaml", optedIn).oauth?.extra_run_args).toEqual(["--env-host", "--network=host"]);
    // Harmless args and what the shipped roster uses still load.
    const harmless = ["-e", "A=1", "--env=B=2", "--network=none", "-v", "cache:/home/dev/.cache", "--tmpfs", "/tmp", "--mount", "type=tmpfs,dst=/run"];
    expect(parseProviderFile("/x/agents/claude.yaml", claudeWith((o) => (o.extra_run_args = harmless))).oauth?.extra_run_args).toEqual(harmless);
    expect(loadRoster().get("claude").oauth?.extra_run_args).toEqual(["-e", "CLAUDE_CONFIG_DIR=/home/dev/.claude"]);
  });

  it("16: an image that is not an image reference, and a container_mount that is not a plain directory, are refused before any engine work", async () => {
    const { home } = freshHome();
    const env = childEnv(home, { AUTHCTL_ENGINE: "/nonexistent/engine" }); // reaching the engine would exit 4
    for (const image of ["--privileged", "-v/:/host", "localhost/x:latest --privileged", "Upper", ""]) {
      for (const argv of [
        ["auth", "claude", "--mode", "oauth", "--image", image],
        ["session", "prepare", "claude", "--image", image, "--json"],
      ]) {
        const r = await runInProcess(env, argv);
        expect(r.exitCode, `${argv.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/--image .* is not an image reference/);
      }
    }
    const context = new Authctl({ env, home });
    await expect(prepareOAuthSession("claude", null, { context, image: "--privileged" })).rejects.toThrow(UsageError);
    await expect(prepareOAuthSession("claude", null, { context, image: "--privileged" })).rejects.toThrow(/image "--privileged" is not an image reference/);

    for (const mount of ["/", "/home/dev/.claude:ro", "/home/dev/../etc", "/home//dev", "/home/dev/", "/home/./dev"]) {
      const err = rosterErrorOf(claudeWith((o) => (o.container_mount = mount)));
      expect(err.message, mount).toMatch(/oauth\.container_mount: must (be|not)/);
    }
  });
});
