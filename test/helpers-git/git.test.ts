import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { startGitServer, type GitServer } from "./git-server.js";

const t = tempHome("authctl-git-");
const root = dirname(t.home);
const userHome = join(root, "user");
const repos = join(root, "srv");
const gitConfig = join(userHome, ".gitconfig");

const token = canary("ghp_");
const workToken = canary("ghp_");
const wrongToken = canary("ghp_");
const printed: string[] = [];

/** The environment git runs in: its own home and global config, no system config, never a prompt. */
function gitEnv(): Record<string, string> {
  const env = childEnv(t.home, { HOME: userHome, GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" });
  for (const name of ["GIT_ASKPASS", "SSH_ASKPASS", "GIT_DIR", "GIT_WORK_TREE"]) delete env[name];
  return env;
}

async function git(args: string[], cwd = root) {
  const r = await execa("git", args, { cwd, env: gitEnv(), extendEnv: false, reject: false, timeout: 60_000, stdin: "ignore" });
  printed.push(r.stdout, r.stderr);
  return r;
}

async function cli(args: string[], input?: string) {
  const r = await authctl(t.home, args, { extraEnv: { HOME: userHome, GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: "1" }, ...(input === undefined ? {} : { input }) });
  printed.push(r.stdout, r.stderr);
  return r;
}

/** Every regular file under dir whose bytes contain the needle. */
function filesHolding(dir: string, needle: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return [];
    if (st.isDirectory()) return filesHolding(path, needle);
    return st.isFile() && readFileSync(path).includes(needle) ? [path] : [];
  });
}

let server: GitServer;
let url: string;

beforeAll(async () => {
  mkdirSync(userHome, { recursive: true });
  mkdirSync(repos, { recursive: true });
  // A helper that writes what it is given to ~/.git-credentials: setup-git must keep it from the token.
  writeFileSync(gitConfig, "[user]\n\tname = Test\n\temail = test@example.invalid\n[credential]\n\thelper = store\n[init]\n\tdefaultBranch = main\n");
  const env = gitEnv();
  execFileSync("git", ["init", "-q", "--bare", join(repos, "repo.git")], { env });
  execFileSync("git", ["-C", join(repos, "repo.git"), "config", "http.receivepack", "true"], { env });
  const seed = join(root, "seed");
  execFileSync("git", ["init", "-q", seed], { env });
  writeFileSync(join(seed, "README"), "seed\n");
  execFileSync("git", ["-C", seed, "add", "README"], { env });
  execFileSync("git", ["-C", seed, "commit", "-q", "-m", "seed"], { env });
  execFileSync("git", ["-C", seed, "push", "-q", join(repos, "repo.git"), "main"], { env });
  server = await startGitServer(repos, [token, workToken]);
  url = `http://127.0.0.1:${server.port}`;
  expect((await cli(["key", "gh", "--stdin"], token)).exitCode).toBe(0);
  expect((await cli(["key", "gh", "--set", "work", "--stdin"], workToken)).exitCode).toBe(0);
  expect((await cli(["key", "gh", "--set", "wrong", "--stdin"], wrongToken)).exitCode).toBe(0);
});

afterAll(async () => {
  await server?.close();
  t.cleanup();
});

describe("git over smart HTTP through authctl git-credential", () => {
  it("setup-git writes the host's helper entries, the inherited helpers cleared first, and again gives the same", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await cli(["setup-git", "--host", url, "--provider", "gh"]);
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
    }
    const helpers = (await git(["config", "--global", "--get-all", `credential.${url}.helper`])).stdout.split("\n");
    expect(helpers).toEqual(["", `!${process.execPath} ${CLI} git-credential --provider gh --host 127.0.0.1:${server.port}`]);
  });

  it("clone, push and fetch succeed with the stored token, sent as x-access-token", async () => {
    const clone = await git(["clone", `${url}/repo.git`, "work"]);
    expect(clone.stderr).not.toMatch(/fatal/);
    expect(clone.exitCode).toBe(0);
    const work = join(root, "work");
    writeFileSync(join(work, "change"), "pushed through authctl\n");
    await git(["add", "change"], work);
    await git(["commit", "-q", "-m", "change"], work);
    const push = await git(["push", "origin", "main"], work);
    expect(push.exitCode).toBe(0);
    const fetch = await git(["fetch", "origin"], work);
    expect(fetch.exitCode).toBe(0);
    const log = execFileSync("git", ["--git-dir", join(repos, "repo.git"), "log", "--format=%s", "main"], { env: gitEnv() }).toString();
    expect(log.split("\n")[0]).toBe("change");
    expect(server.logins.filter((l) => l.accepted).every((l) => l.username === "x-access-token" && l.password === token)).toBe(true);
    expect(server.logins.some((l) => l.accepted)).toBe(true);
  });

  it("a URL's user name that names a set picks that set's token", async () => {
    const before = server.logins.length;
    const r = await git(["ls-remote", `http://work@127.0.0.1:${server.port}/repo.git`]);
    expect(r.exitCode).toBe(0);
    const logins = server.logins.slice(before).filter((l) => l.accepted);
    expect(logins.length).toBeGreaterThan(0);
    expect(logins.every((l) => l.username === "work" && l.password === workToken)).toBe(true);
  });

  it("a wrong token: git fails with the server's refusal, promptly", async () => {
    await cli(["setup-git", "--host", url, "--provider", "gh", "--set", "wrong"]);
    const started = Date.now();
    const r = await git(["ls-remote", `${url}/repo.git`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failed/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(server.logins.at(-1)).toMatchObject({ password: wrongToken, accepted: false });
  });

  it("a missing credential: git fails, and authctl's message says how to store it", async () => {
    await cli(["setup-git", "--host", url, "--provider", "gh", "--set", "empty"]);
    const r = await git(["ls-remote", `${url}/repo.git`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("authctl: no credentials for empty:gh; run: authctl auth gh --set empty");
    expect(r.stderr).toMatch(/terminal prompts disabled|Authentication failed/);
  });

  it("git credential fill: the roster's hosts answer, any other host gets nothing and git goes on", async () => {
    const setup = await cli(["setup-git"]);
    expect(setup.stdout).toContain("https://github.com");
    const fill = (input: string) => execa("git", ["credential", "fill"], { env: gitEnv(), extendEnv: false, reject: false, input, timeout: 30_000 });
    const github = await fill("protocol=https\nhost=github.com\n\n");
    expect(github.stdout).toBe(`protocol=https\nhost=github.com\nusername=x-access-token\npassword=${token}`);
    // No helper answers example.org and prompts are off: git gives up, it does not hang.
    const other = await fill("protocol=https\nhost=example.org\n\n");
    expect(other.stdout).not.toContain(token);
    expect(other.exitCode).not.toBe(0);
  });

  it("the token is in no file under the test's home and temp dir, and in nothing git or authctl printed", () => {
    expect(filesHolding(root, token)).toEqual([]);
    expect(filesHolding(root, workToken)).toEqual([]);
    for (const secret of [token, workToken, wrongToken]) expect(printed.join("\n")).not.toContain(secret);
  });
});
