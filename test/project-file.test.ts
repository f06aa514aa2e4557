import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../src/store/store.js";
import { CLI, canary, childEnv, tempHome } from "./helpers/env.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
/** Prints a hash of the child's key, never the key. */
const PRINT_HASH = `process.stdout.write(require("crypto").createHash("sha256").update(process.env.ANTHROPIC_API_KEY ?? "").digest("hex"))`;

describe("a project file (authctl.yaml) picks the credential set", () => {
  const { home, cleanup } = tempHome();
  const repo = join(home, "..", "repo");
  const sub = join(repo, "src", "deep");
  const keys = { default: `sk-ant-${canary()}`, work: `sk-ant-${canary()}`, ci: `sk-ant-${canary()}` };

  beforeAll(() => {
    mkdirSync(join(repo, ".git"), { recursive: true });
    mkdirSync(sub, { recursive: true });
    using store = CredentialStore.open({ home, env: childEnv(home) });
    for (const [set, key] of Object.entries(keys)) store.put(set, "anthropic", "api_key", { type: "api_key", key }, { preview: "sk-…" });
  });
  afterAll(cleanup);

  const cli = (args: string[], cwd: string, extra: Record<string, string> = {}) =>
    execa("node", [CLI, ...args], { cwd, env: childEnv(home, extra), extendEnv: false, reject: false, stdin: "ignore" });
  const noSecrets = (text: string) => {
    for (const key of Object.values(keys)) expect(text.includes(key), "a stored key was printed").toBe(false);
  };
  const childSees = async (cwd: string, args: string[] = [], extra: Record<string, string> = {}) => {
    const r = await cli(["run", ...args, "--no-token", "--", "node", "-e", PRINT_HASH], cwd, extra);
    expect(r.exitCode, r.stderr).toBe(0);
    noSecrets(r.stdout + r.stderr);
    return r.stdout;
  };

  it("init writes authctl.yaml at the repository root from a subdirectory, and refuses to overwrite it", async () => {
    const first = await cli(["init", "--set", "work", "--require", "anthropic"], sub);
    expect(first.exitCode, first.stderr).toBe(0);
    const text = readFileSync(join(repo, "authctl.yaml"), "utf8");
    expect(text).toMatch(/^set: work$/m);
    expect(text).toMatch(/^require: \[anthropic\]$/m);
    const again = await cli(["init", "--set", "ci"], sub);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`${join(repo, "authctl.yaml")}: already exists`);
    expect(readFileSync(join(repo, "authctl.yaml"), "utf8")).toBe(text);
    const forced = await cli(["init", "--set", "work", "--require", "anthropic", "--force"], sub);
    expect(forced.exitCode, forced.stderr).toBe(0);
  });

  it("in a subdirectory the project file's set is used; AUTHCTL_SET overrides it, and --set overrides both", async () => {
    expect(await childSees(sub)).toBe(sha(keys.work));
    expect(await childSees(sub, [], { AUTHCTL_SET: "ci" })).toBe(sha(keys.ci));
    expect(await childSees(sub, ["--set", "default"], { AUTHCTL_SET: "ci" })).toBe(sha(keys.default));
    // Outside the repository no project file applies.
    expect(await childSees(home)).toBe(sha(keys.default));
  });

  it("token reads the same set", async () => {
    const r = await cli(["token", "anthropic"], sub);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(sha(r.stdout.trim())).toBe(sha(keys.work));
  });

  it("git's credential helper, started by git in the repository, answers from the project's set", async () => {
    const ghKey = `ghp_${canary()}`;
    {
      using store = CredentialStore.open({ home, env: childEnv(home) });
      store.put("work", "gh", "api_key", { type: "api_key", key: ghKey }, { preview: "ghp…" });
    }
    const r = await execa("node", [CLI, "git-credential", "get"], { cwd: sub, env: childEnv(home), extendEnv: false, reject: false, input: "protocol=https\nhost=github.com\n\n" });
    expect(r.exitCode, r.stderr).toBe(0);
    const password = /^password=(.*)$/m.exec(r.stdout)?.[1] ?? "";
    expect(sha(password) === sha(ghKey), "git got the project set's token").toBe(true);
  });

  it("status says which source applied, and checks the project's required providers", async () => {
    const fromFile = await cli(["status"], sub);
    expect(fromFile.exitCode, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toMatch(/^set\s+work \(from \.\.\/\.\.\/authctl\.yaml\)$/m);
    expect(fromFile.stdout).toMatch(/^work\s+anthropic\s+valid/m);
    expect(fromFile.stdout).not.toMatch(/^ci\s+anthropic/m);
    expect((await cli(["status"], sub, { AUTHCTL_SET: "ci" })).stdout).toMatch(/^set\s+ci \(from AUTHCTL_SET\)$/m);
    expect((await cli(["status", "--set", "default"], sub, { AUTHCTL_SET: "ci" })).stdout).toMatch(/^set\s+default \(from --set\)$/m);
    expect((await cli(["status"], home)).stdout).toMatch(/^set\s+default \(the default\)$/m);
    const empty = join(home, "..", "other");
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, "authctl.yaml"), "set: empty\nrequire: [stripe]\n");
    const missing = await cli(["status"], empty);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toContain("missing empty:stripe; run: authctl key stripe --set empty");
  });

  it("a project file holding a secret-looking value, or an unknown key, is refused naming the file and field (never the value)", async () => {
    const bad = join(home, "..", "bad");
    mkdirSync(bad, { recursive: true });
    const file = join(bad, "authctl.yaml");
    const secret = `sk-ant-api03-${canary()}`;
    const ghToken = `ghp_${canary()}`;
    const cases: [string, string, RegExp][] = [
      [`set: ${secret}\n`, "set", /looks like a key of anthropic \(not shown\)/],
      [`set: work\nrequire: [anthropic]\nenv:\n  anthropic: ${ghToken}\n`, "env.anthropic", /looks like a key of gh/],
      [`set: work\nanthropic_key: ${secret}\n`, "anthropic_key", /looks like/],
      [`set: work\ntoken: hello\n`, "token", /unknown key/],
    ];
    for (const [text, field, problem] of cases) {
      writeFileSync(file, text);
      for (const args of [["status"], ["run", "--no-token", "--", "node", "-e", "0"], ["token", "anthropic"]]) {
        const r = await cli(args, bad);
        expect(r.exitCode, `${args[0]} with ${field}`).toBe(2);
        expect(r.stderr).toContain(`project file ${file}: ${field}`);
        expect(r.stderr).toMatch(problem);
        expect(r.stdout + r.stderr).not.toContain(secret.slice(12));
        expect(r.stdout + r.stderr).not.toContain(ghToken.slice(4));
      }
    }
    // A flag or AUTHCTL_SET gets past a refused file: it is not read at all.
    expect(await childSees(bad, ["--set", "ci"])).toBe(sha(keys.ci));
  });

  it("a project file of another account (cloudsdk, uid 1000), or one anyone may write, is refused: whoever writes it picks which of your credentials go out", async () => {
    const { chmodSync, chownSync } = await import("node:fs");
    const theirs = join(home, "..", "theirs");
    mkdirSync(theirs, { recursive: true });
    const file = join(theirs, "authctl.yaml");
    writeFileSync(file, "set: ci\n", { mode: 0o644 });
    chownSync(file, 1000, 1000);
    const owned = await cli(["run", "--no-token", "--", "node", "-e", PRINT_HASH], theirs);
    expect(owned.exitCode).toBe(2);
    expect(owned.stderr).toContain(`project file ${file}: belongs to uid 1000, not to you`);
    expect(owned.stdout).toBe("");
    chownSync(file, process.getuid!(), process.getgid!());
    chmodSync(file, 0o666);
    const writable = await cli(["run", "--no-token", "--", "node", "-e", PRINT_HASH], theirs);
    expect(writable.exitCode).toBe(2);
    expect(writable.stderr).toContain(`project file ${file}: anyone may write it`);
    expect(writable.stdout).toBe("");
  });
});
