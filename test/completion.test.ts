import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "./helpers/env.js";

// Spawns the built CLI (dist/bin/authctl.js): run `npm run build` first.
const t = tempHome();
const bin = join(t.home, "..", "bin");
const secret = canary("sk_test_");
const PASSPHRASE = "violet staple orbit 42 lantern";
let script = "";
const printed: string[] = [];

function shellHas(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** COMPREPLY of the generated bash function for the words typed so far (the last one is being completed). */
function complete(...words: string[]): string[] {
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _authctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
  // No passphrase source: the store stays locked while names are completed.
  const env = { ...childEnv(t.home), PATH: `${bin}:${process.env.PATH}` };
  const stdout = execFileSync("bash", ["-c", program, "bash", join(bin, "authctl.bash"), "authctl", ...words], { env, encoding: "utf8" });
  printed.push(stdout);
  return stdout.split("\n").filter(Boolean);
}

beforeAll(async () => {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "authctl"), `#!/bin/sh\nexec node ${CLI} "$@"\n`, { mode: 0o755 });
  const stored = await authctl(t.home, ["key", "stripe", "--set", "ci", "--stdin"], { input: secret, extraEnv: { AUTHCTL_PASSPHRASE: PASSPHRASE } });
  expect(stored.exitCode, stored.stderr).toBe(0);
  const r = await authctl(t.home, ["completion", "bash"]);
  expect(r.exitCode).toBe(0);
  script = r.stdout;
  writeFileSync(join(bin, "authctl.bash"), script);
}, 60_000);
afterAll(() => {
  for (const o of printed) expect(o).not.toContain(secret);
  t.cleanup();
});

describe("authctl completion", () => {
  it("bash: the script parses", () => {
    execFileSync("bash", ["-n", join(bin, "authctl.bash")]);
  });

  it("completes subcommands, nested subcommands and each command's options from the command tree", () => {
    expect(complete("to")).toEqual(["token"]);
    expect(complete("")).toEqual(expect.arrayContaining(["auth", "creds", "run", "status", "doctor", "completion"]));
    expect(complete("")).not.toContain("__complete");
    expect(complete("creds", "")).toEqual(expect.arrayContaining(["list", "show", "rm"]));
    expect(complete("status", "--")).toEqual(expect.arrayContaining(["--set", "--require", "--check", "--json", "--help"]));
    expect(complete("creds", "list", "--j")).toEqual(["--json"]);
  }, 30_000);

  it("completes provider names from the roster and sets from the store's metadata, with the store locked", () => {
    expect(complete("token", "")).toEqual(expect.arrayContaining(["gh", "anthropic", "stripe"]));
    expect(complete("token", "gl")).toEqual(["glab"]);
    expect(complete("token", "gh", "--set", "")).toEqual(["ci", "default"]);
    expect(complete("status", "--set", "c")).toEqual(["ci"]);
    // A flag's value is skipped when finding the command: `--set ci` does not hide `token`'s options.
    expect(complete("token", "--set", "ci", "--j")).toEqual(["--json"]);
  }, 60_000);

  it("__complete reads no secret and asks for no key (a locked passphrase store), and creates no store where none is", async () => {
    const sets = await authctl(t.home, ["__complete", "sets"]);
    expect(sets.stdout.split("\n").filter(Boolean)).toEqual(["ci", "default"]);
    expect(sets.stderr).toBe("");
    const empty = tempHome();
    try {
      expect((await authctl(empty.home, ["__complete", "sets"])).stdout).toBe("default");
      expect(existsSync(empty.home)).toBe(false);
    } finally {
      empty.cleanup();
    }
    printed.push(sets.stdout, sets.stderr);
  }, 30_000);

  it("zsh and fish: a script is produced, and the shell parses it when installed", async () => {
    for (const shell of ["zsh", "fish"]) {
      const r = await authctl(t.home, ["completion", shell]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain("__complete providers");
      expect(r.stdout).toContain("token");
      printed.push(r.stdout);
      if (!shellHas(shell)) continue;
      const file = join(bin, `authctl.${shell}`);
      writeFileSync(file, r.stdout);
      execFileSync(shell, shell === "fish" ? ["--no-execute", file] : ["-n", file]);
    }
    const bad = await authctl(t.home, ["completion", "tcsh"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("use one of bash, zsh, fish");
  }, 30_000);
});
