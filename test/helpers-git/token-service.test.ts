import { execa } from "execa";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { sendWire, ServiceClient } from "../../src/access/client.js";
import { GIT_CREDENTIAL_PATH, SECRET_PATH, STORE_URL, storeIdentity } from "../../src/access/serviceRead.js";
import { storeApiKey } from "../../src/index.js";
import { Authctl } from "../../src/context.js";
import { STORE_URL_VARIABLE } from "../../src/store/selectBackend.js";
import { ATTACKER, foreignDaemon } from "../helpers/fake-daemon.js";
import { canary, CLI, tempHome, testEnv } from "../helpers/env.js";
import { captureLapsedGitLogin, useHostLoginFixture } from "../helpers/host-roster.js";
import { countOccurrences } from "../helpers/leaks.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 19 item 2: `token` and `git-credential get` are answered by this home's running service
 * (the spawned bin, a real `authctl serve`) exactly as by the store, and a socket that is not
 * provably the user's own daemon is never asked.
 */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Cli = (args: string[], input?: string) => Promise<{ stdout: string; stderr: string; exitCode: number }>;

function cliFor(env: Record<string, string>): Cli {
  return async (args, input) => {
    const options = { env, extendEnv: false, reject: false, stripFinalNewline: false, timeout: 60_000 } as const;
    const r = await execa("node", [CLI, ...args], input === undefined ? { ...options, stdin: "ignore" } : { ...options, input });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  };
}

/** The admin reads the service answered (its audit lines), for this operation. */
function servedReads(home: string, op: string): string[] {
  const log = join(home, "audit.jsonl");
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { actor?: string; op?: string; target?: string; allowed?: boolean })
    .filter((e) => e.actor === "admin" && e.op === op && e.allowed)
    .map((e) => e.target!);
}

/** `authctl serve --detach` for this home, stopped after the test (or by `stop`). */
async function startService(cli: Cli): Promise<() => Promise<void>> {
  const up = await cli(["serve", "--detach"]);
  expect(up.exitCode, up.stderr).toBe(0);
  let stopped = false;
  const stop = async () => {
    if (!stopped) expect((await cli(["serve", "stop"])).exitCode).toBe(0);
    stopped = true;
  };
  cleanups.push(stop);
  return stop;
}

/** Roster files this much older than the service are trusted to it (it refuses to answer for newer ones). */
const ROSTER_SETTLE_MS = 1_100;

const GITHUB = "protocol=https\nhost=github.com\n\n";

describe("token and git-credential get with the service running", () => {
  it("answer as the store does (output, --json, sets, missing credentials, unknown hosts), and the service's audit shows it answered", async () => {
    const t = tempHome("authctl-tokensvc-");
    cleanups.push(t.cleanup);
    const env = { ...testEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" };
    const cli = cliFor(env);
    const [gh, ci, openai] = [canary("ghp_"), canary("ghp_"), canary("sk-")];
    for (const [args, key] of [[["key", "gh"], gh], [["key", "gh", "--set", "ci"], ci], [["key", "openai"], openai]] as const) {
      expect((await cli([...args, "--stdin"], key)).exitCode).toBe(0);
    }
    const cases: Array<[string[], string?]> = [
      [["token", "gh"]],
      [["token", "gh", "--json"]],
      [["token", "--set", "ci", "gh"]],
      [["token", "gh", "--set=ci", "--json"]],
      [["token", "openai"]],
      [["token", "anthropic"]],
      [["token", "anthropic", "--json"]],
      [["token", "no-such-provider"]],
      [["git-credential", "get"], GITHUB],
      [["git-credential", "get"], "protocol=https\nhost=github.com\nusername=ci\n\n"],
      [["git-credential", "get", "--set", "ci"], GITHUB],
      [["git-credential", "get"], "protocol=https\nhost=gitlab.example\n\n"],
      [["git-credential", "get"], "protocol=http\nhost=github.com\n\n"],
      [["git-credential", "get", "--provider", "gh", "--host", "git.corp.example"], "protocol=https\nhost=git.corp.example\n\n"],
      [["git-credential", "get"], "not a request\n\n"],
    ];
    const answers = async () => Promise.all(cases.map(([args, input]) => cli(args, input)));

    const direct = await answers();
    expect(direct[0]).toEqual({ stdout: `${gh}\n`, stderr: "", exitCode: 0 });
    expect(direct[5]!.exitCode).toBe(3);
    expect(direct[8]!.stdout).toBe(`username=x-access-token\npassword=${gh}\n`);
    expect(direct[9]!.stdout).toContain(`password=${ci}\n`);
    expect(servedReads(t.home, "secret")).toEqual([]);

    const stop = await startService(cli);
    const served = await answers();
    expect(served).toEqual(direct);
    // The service answered these itself (its audit lines); missing credentials, unknown providers and
    // a malformed request were answered by the client reading the store, as without the service.
    expect(servedReads(t.home, "secret").sort()).toEqual(["ci:gh", "ci:gh", "default:gh", "default:gh", "default:openai"]);
    expect(servedReads(t.home, "git-credential").sort()).toEqual(["ci:gh", "ci:gh", "default:gh", "default:gh", "git:http://github.com", "git:https://gitlab.example"]);

    await stop();
    expect(await answers()).toEqual(direct);

    const printed = [...direct, ...served].map((r) => r.stderr).join("\n");
    for (const key of [gh, ci, openai]) expect(countOccurrences(printed, key)).toBe(0);
    expect(countOccurrences(readFileSync(join(t.home, "audit.jsonl"), "utf8"), gh)).toBe(0);
  }, 120_000);

  it("a roster file edited after the service started (now proxy_only): the service does not answer from its older roster, the client refuses", async () => {
    const t = tempHome("authctl-tokensvc-");
    cleanups.push(t.cleanup);
    const cli = cliFor({ ...testEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" });
    const hidden = canary("sk-hidden-");
    const entry = "name: hidden\nlabel: Hidden\nkind: service\nmodes: [api_key]\napi_key: { env_var: HIDDEN_API_KEY }\n";
    mkdirSync(join(t.home, "agents"), { recursive: true });
    writeFileSync(join(t.home, "agents", "hidden.yaml"), entry);
    expect((await cli(["key", "hidden", "--stdin"], hidden)).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, ROSTER_SETTLE_MS));
    await startService(cli);
    expect((await cli(["token", "hidden"])).stdout).toBe(`${hidden}\n`);
    expect(servedReads(t.home, "secret")).toEqual(["default:hidden"]);
    writeFileSync(join(t.home, "agents", "hidden.yaml"), `${entry}delivery: { policy: proxy_only }\n`);
    const refused = await cli(["token", "hidden"]);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/default:hidden \(api_key\) is proxy_only/);
    expect(refused.exitCode).toBe(1);
    expect(servedReads(t.home, "secret")).toEqual(["default:hidden"]);
  }, 60_000);

  it("a capability token (even one granting get) and an anonymous caller are refused: only the store key's holder is answered", async () => {
    const t = tempHome("authctl-tokensvc-");
    cleanups.push(t.cleanup);
    const env = { ...testEnv(), AUTHCTL_HOME: t.home };
    const context = new Authctl({ env, home: t.home });
    const key = canary("ghp_");
    storeApiKey("gh", key, { context });
    const { socketPath, stop } = await listeningService(context);
    cleanups.push(() => context.close(), stop);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
    const { token } = await admin.mint({ credentialSet: "default", providers: ["gh"], ops: ["get", "head", "list"], ttlSeconds: 60 });
    const bodies = {
      [SECRET_PATH]: { provider: "gh", credentialSet: "default", store: storeIdentity(env) },
      [GIT_CREDENTIAL_PATH]: { request: { protocol: "https", host: "github.com" }, defaultSet: "default", store: storeIdentity(env) },
    };
    for (const [path, body] of Object.entries(bodies)) {
      for (const authorization of [`Bearer ${token}`, undefined]) {
        const answer = await sendWire({ socketPath, path, body: JSON.stringify(body), ...(authorization ? { authorization } : {}) });
        expect(answer.status, `${path} ${authorization ? "token" : "anonymous"}`).toBe(403);
        expect(countOccurrences(answer.body, key)).toBe(0);
      }
    }
    // The token itself still works where it is meant to.
    expect((await new ServiceClient({ socketPath, token }).get("gh")).payload).toMatchObject({ key });
  });

  it("the store-URL variable the client compares is the one the store reads", () => {
    expect(STORE_URL).toBe(STORE_URL_VARIABLE);
  });
});

describe("a host login through the service", () => {
  const host = useHostLoginFixture("tokensvc");

  it("an expired access token is refreshed (once) by the service; git and token get the new one and its expiry", async () => {
    // Past the access token's life, and the roster file older than the service (a newer one is not trusted to it).
    await captureLapsedGitLogin(host, Math.max(1_500, ROSTER_SETTLE_MS));
    const cli = cliFor(host.env());
    // Stopped inside the test: the fixture removes the home after it.
    const stop = await startService(cli);
    try {
      await hostLoginAnswers(cli);
    } finally {
      await stop();
    }
  }, 60_000);

  async function hostLoginAnswers(cli: Cli) {
    const server = host.server;
    const git = await cli(["git-credential", "get"], "protocol=https\nhost=git.fakehub.example\n\n");
    expect(git.stderr).toBe("");
    expect(git.exitCode).toBe(0);
    const answer = Object.fromEntries(git.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(server.grants.filter((g) => g.grant_type === "refresh_token").length).toBe(1);
    const newest = server.issued.filter((tok) => tok.includes("at")).at(-1)!;
    expect(answer.password === newest, "git got the refreshed access token").toBe(true);
    expect(Number(answer.password_expiry_utc)).toBeGreaterThan(Date.now() / 1000 + 3000);
    const token = await cli(["token", "fakehub", "--json"]);
    const json = JSON.parse(token.stdout) as { token: string; expiresAt: string; kind: string };
    expect(json.token === newest, "token printed the refreshed access token").toBe(true);
    expect(Math.floor(Date.parse(json.expiresAt) / 1000)).toBe(Number(answer.password_expiry_utc));
    expect(server.grants.filter((g) => g.grant_type === "refresh_token").length).toBe(1);
    expect(servedReads(host.home, "git-credential")).toEqual(["default:fakehub"]);
    expect(servedReads(host.home, "secret")).toEqual(["default:fakehub"]);
  }
});

describe("a socket that is not provably the user's daemon is never asked", () => {
  function scratch(prefix: string, mode = 0o700): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(dir, mode);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A key-file store in the default home of a fresh HOME, with one key; XDG_RUNTIME_DIR world-writable. */
  async function userWithKey() {
    const user = scratch("authctl-user-");
    const xdg = scratch("authctl-xdg-", 0o1777);
    const env = { ...testEnv(), HOME: user, XDG_RUNTIME_DIR: xdg, NO_COLOR: "1" };
    const cli = cliFor(env);
    const key = canary("ghp_");
    expect((await cli(["key", "gh", "--stdin"], key)).exitCode).toBe(0);
    return { cli, key, xdg, home: join(user, ".authctl") };
  }

  it("another account's daemon in a shared XDG_RUNTIME_DIR: the answer comes from the store, stderr says why, nothing reaches it", async () => {
    const u = await userWithKey();
    const fake = await foreignDaemon(join(u.xdg, "authctl"), { decoy: "/nowhere", victim: 1 }, cleanups);
    const token = await u.cli(["token", "gh"]);
    expect(token.stdout).toBe(`${u.key}\n`);
    expect(token.exitCode).toBe(0);
    expect(token.stderr).toContain(`${join(u.xdg, "authctl")} belongs to uid ${ATTACKER}`);
    const git = await u.cli(["git-credential", "get"], GITHUB);
    expect(git.stdout).toBe(`username=x-access-token\npassword=${u.key}\n`);
    expect(git.stderr).toContain(`belongs to uid ${ATTACKER}`);
    expect(countOccurrences(token.stderr + git.stderr, u.key)).toBe(0);
    expect(await fake.received()).toEqual([]);
  }, 60_000);

  it("a listener of another uid moved into the home's private run directory: refused by its peer uid before anything is sent", async () => {
    const t = tempHome("authctl-tokensvc-");
    cleanups.push(t.cleanup);
    const cli = cliFor({ ...testEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" });
    const key = canary("ghp_");
    expect((await cli(["key", "gh", "--stdin"], key)).exitCode).toBe(0);
    const fake = await foreignDaemon(join(scratch("authctl-theirs-", 0o1777), "d"), { decoy: "/nowhere", victim: 1 }, cleanups);
    mkdirSync(join(t.home, "run"), { recursive: true, mode: 0o700 });
    const socketPath = join(t.home, "run", "authctl.sock");
    renameSync(fake.socket, socketPath);
    const token = await cli(["token", "gh", "--json"]);
    expect(JSON.parse(token.stdout)).toMatchObject({ provider: "gh", token: key });
    expect(token.stderr).toMatch(new RegExp(`${socketPath} is served by uid ${ATTACKER} \\(pid \\d+\\)`));
    const git = await cli(["git-credential", "get"], GITHUB);
    expect(git.stdout).toBe(`username=x-access-token\npassword=${key}\n`);
    expect(await fake.received()).toEqual([]);
  }, 60_000);
});
