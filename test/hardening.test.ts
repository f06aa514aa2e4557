import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSecretCommand } from "../src/access/commandSource.js";
import { Authctl } from "../src/context.js";
import { maskSecret } from "../src/core/mask.js";
import { passphraseFromEnv } from "../src/store/keySource.js";
import { canary, childEnv, CLI, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";
import { isRunning, runningInGroup } from "./helpers/processes.js";
import { runInPty } from "./helpers/pty.js";

/** Issue 11, low-severity findings: each a clear error or a bound. */
const t = tempHome("authctl-hardening-");
afterAll(() => t.cleanup());
/**
 * A secret command that leaves a helper behind (a grandchild `sleep`), complains on stderr (six
 * lines, the last with a terminal escape) and hangs. It records the helper's pid and its own
 * process group in the dir given as its argument.
 */
const HANGING_COMMAND = `#!/bin/sh
sleep 1000 &
echo $! > "$1/grandchild.pid"
cut -d' ' -f5 /proc/$$/stat > "$1/pgid"
printf 'line %s\\n' 1 2 3 4 5 >&2
printf 'gpg: waiting for \\033[31mpinentry\\n' >&2
sleep 1000
`;

function hangingCommand() {
  const dir = mkdtempSync(join(tmpdir(), "authctl-hanging-"));
  writeFileSync(join(dir, "hang.sh"), HANGING_COMMAND);
  chmodSync(join(dir, "hang.sh"), 0o755);
  return {
    dir,
    script: join(dir, "hang.sh"),
    /** The pids of what the command started that still run: none once it was stopped. */
    leftRunning: () => {
      const grandchild = Number(readFileSync(join(dir, "grandchild.pid"), "utf8"));
      const group = runningInGroup(Number(readFileSync(join(dir, "pgid"), "utf8")));
      return [...new Set([...(isRunning(grandchild) ? [grandchild] : []), ...group])];
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The message of what `fn` throws ("" when it returns). */
function thrownBy(fn: () => unknown): string {
  try {
    fn();
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

const run = (args: string[], input?: string | Buffer, env: Record<string, string> = {}) => runInProcess(childEnv(t.home, env), args, input);

describe("hardening (issue 11)", () => {
  it("8: a key typed the moment the prompt starts to appear is never echoed", async () => {
    const home = tempHome("authctl-hardening-echo-");
    const typeOnFirstOutput = async (set: string) => {
      const key = canary("sk-ant-");
      const run = runInPty(["node", CLI, "key", "anthropic", "--set", set], childEnv(home.home));
      // A fast typist (or a paste) starts on the first line the command prints, not on its last.
      run.child.all!.once("data", () => run.type(key + "\r"));
      const { exitCode } = await run.child;
      return { key, exitCode, output: run.output() };
    };
    for (let batch = 0; batch < 5; batch++) {
      const runs = await Promise.all([0, 1, 2, 3].map((i) => typeOnFirstOutput(`echo${batch}${i}`)));
      for (const r of runs) {
        // Even a first few characters: the output's only trace of the key is its preview, `sk-…last4`.
        expect(r.output).not.toMatch(/sk-ant|CANARY/);
        expect(r.exitCode, r.output).toBe(0);
      }
    }
    home.cleanup();
  }, 120_000);

  it("9: a preview never carries terminal control characters from a vendor's token", () => {
    const preview = maskSecret("sk-\u001b]0;pwned\u0007-ABCDEFGH\u001b[2J");
    expect(preview).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(preview).toBe("sk-…?[2J");
  });

  it("10: a mask reveals at most a third of the secret part after the public prefix", () => {
    expect(maskSecret("sk-ant-ABCDE")).toBe("sk-…E");
    expect(maskSecret("sk_test_ABCDEF")).toBe("sk_…EF");
    expect(maskSecret("sk-ant-api03-ABCDEFGHIJKL")).toBe("sk-…IJKL");
    expect(maskSecret("ABCDEFGHIJKL")).toBe("…IJKL");
    expect(maskSecret("sk-ant-api03-AB")).toBe("****");
    expect(maskSecret("short")).toBe("****");
    const long = canary("sk-ant-api03-");
    expect(maskSecret(long)).toBe(`sk-…${long.slice(-4)}`);
    const bare = canary();
    expect(maskSecret(bare)).toBe(`${bare.slice(0, 3)}…${bare.slice(-4)}`);
  });

  it("11: a key typed where the provider name goes is not echoed", async () => {
    const key = canary("sk-ant-api03-");
    const r = await run(["key", key, "--stdin"], "x");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not a provider name/);
    expect(r.stdout + r.stderr).not.toContain(key);
    expect((await run(["key", "nosuch", "--stdin"], "x")).stderr).toMatch(/unknown provider "nosuch"/);
  });

  it("12: invalid UTF-8 on stdin is refused, and nothing is stored", async () => {
    const r = await run(["key", "stripe", "--stdin"], Buffer.concat([Buffer.from("sk_test_ABCDEFGHIJ"), Buffer.from([0xff, 0xfe])]));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/stdin is not valid UTF-8/);
    expect((await run(["creds", "list", "--json"])).stdout.trim()).toBe("[]");
  });

  it("17: an engine whose daemon does not answer is 'no container engine' (exit 4), naming the socket and how to start it", async () => {
    const dead = `/tmp/authctl-no-daemon-${process.pid}-${Date.now()}.sock`;
    const docker = await run(["session", "prepare", "claude", "--json"], undefined, { AUTHCTL_ENGINE: "docker", DOCKER_HOST: `unix://${dead}` });
    expect(docker.exitCode, docker.stderr).toBe(4);
    expect(docker.stderr).toContain(`no docker daemon answers at ${dead} (DOCKER_HOST=unix://${dead}`);
    expect(docker.stderr).toMatch(/systemctl start docker/);

    const podman = await run(["session", "prepare", "claude", "--json"], undefined, { AUTHCTL_ENGINE: "podman", CONTAINER_HOST: `unix://${dead}` });
    expect(podman.exitCode, podman.stderr).toBe(4);
    expect(podman.stderr).toContain(`no podman service answers at ${dead} (CONTAINER_HOST=unix://${dead}`);
    expect(podman.stderr).toMatch(/podman system service/);
  });

  it("18: a passphrase or secret command that times out is stopped with all it started, and its stderr tail is shown", () => {
    const expectStoppedWithTail = (message: string, leftRunning: number[]) => {
      expect(message).toContain("  | line 5\n  | gpg: waiting for ?[31mpinentry");
      expect(message).not.toContain("line 1");
      expect(message).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
      expect(leftRunning).toEqual([]);
    };
    const passphrase = hangingCommand();
    const env = { PATH: process.env.PATH!, AUTHCTL_PASSPHRASE_COMMAND: `${passphrase.script} ${passphrase.dir}` };
    const locked = thrownBy(() => passphraseFromEnv(env, 500));
    expect(locked).toMatch(/AUTHCTL_PASSPHRASE_COMMAND did not finish within 500 ms/);
    expectStoppedWithTail(locked, passphrase.leftRunning());
    passphrase.cleanup();

    const source = hangingCommand();
    const context = new Authctl({ env: childEnv(t.home) });
    const message = thrownBy(() => runSecretCommand(context, "vaulted", { command: [source.script, source.dir], timeout_ms: 500 }));
    expect(message).toMatch(/vaulted: the secret command `.*hang\.sh .*` did not finish within 500 ms/);
    expectStoppedWithTail(message, source.leftRunning());
    source.cleanup();
  }, 120_000);

  it("20: a bad --project is a usage error (exit 2), before any engine work", async () => {
    const r = await run(["session", "prepare", "claude", "--project", "bad/../project", "--image", "localhost/none:0", "--json"]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/invalid project id/);
  });
});
