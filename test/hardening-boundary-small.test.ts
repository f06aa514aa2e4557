import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { RosterError, UsageError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import { mintPhantoms } from "../src/proxy/phantoms.js";
import { parseProviderFile } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { baseEnv, ctxOf } from "./helpers/context.js";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { googleAt, oauth2At, useHostLoginFixture, writeUserRoster } from "./helpers/host-roster.js";
import { runInProcess } from "./helpers/memory-io.js";

/** Issue 18, findings 9, 12, 13 and 14: each a clear refusal or a bound. */
const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function freshHome(prefix: string): string {
  const t = tempHome(prefix);
  cleanups.push(t.cleanup);
  return t.home;
}

/** Whether `promise` is still pending after `ms`: a login that was aborted has settled by then. */
async function stillPending(promise: Promise<unknown>, ms = 300): Promise<boolean> {
  const pending = Symbol("pending");
  const outcome = await Promise.race([promise.then(() => "settled", () => "settled"), new Promise((r) => setTimeout(() => r(pending), ms))]);
  return outcome === pending;
}

describe("9: only the login's own redirect (its state) can end a pending host OAuth login", () => {
  const host = useHostLoginFixture("b");
  const flows = [
    { provider: "fakehub", entry: (base: string) => oauth2At(base, "oauth2_pkce"), kind: "oauth" },
    { provider: "google", entry: googleAt, kind: "google_oauth" },
  ];

  for (const { provider, entry, kind } of flows) {
    it(`${provider}: ?error= without the state, or with a forged one, is answered 400 and the login keeps waiting`, async () => {
      await host.start((fake) => entry(fake.base));
      using context = host.context();
      await using session = await prepareHostLogin(provider, { context });
      const { authUrl, redirectUri } = session.prompt as { authUrl: string; redirectUri: string };
      const captured = session.capture();
      for (const query of ["?error=access_denied", "?error=access_denied&state=forged", "?error=access_denied&state="]) {
        const forged = await fetch(`${redirectUri}${query}`);
        expect(forged.status, query).toBe(400);
        expect(await forged.text(), query).toMatch(/state does not match/);
      }
      expect(await stillPending(captured), "a forged ?error= ended the login").toBe(true);
      await fetch(authUrl); // the real browser redirect still completes it
      expect(await captured).toMatchObject({ provider, kind });
    });
  }

  it("an error carrying the login's own state still ends it, saying what the server answered", async () => {
    await host.start((fake) => oauth2At(fake.base, "oauth2_pkce"));
    using context = host.context();
    await using session = await prepareHostLogin("fakehub", { context });
    const { authUrl, redirectUri } = session.prompt as { authUrl: string; redirectUri: string };
    const state = new URL(authUrl).searchParams.get("state")!;
    const captured = session.capture();
    captured.catch(() => {});
    expect((await fetch(`${redirectUri}?error=access_denied&state=${state}`)).status).toBe(400);
    await expect(captured).rejects.toThrow(/the authorization server refused the login: access_denied/);
    expect(context.store().info("default", "fakehub")).toBeUndefined();
  });
});

describe("12: a roster cannot export a secret under a name that changes how a process runs", () => {
  const base = { name: "demo", label: "Demo", kind: "service", modes: ["api_key"], api_key: { env_var: "DEMO_KEY" } };
  const refusedNames = [
    "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "NODE_OPTIONS", "PYTHONSTARTUP",
    "PYTHONPATH", "PERL5OPT", "RUBYOPT", "GIT_SSH_COMMAND", "GIT_CONFIG_COUNT", "IFS", "SHELLOPTS", "PS4", "PROMPT_COMMAND",
    "HOME", "JAVA_TOOL_OPTIONS", "GLIBC_TUNABLES", "HTTPS_PROXY", "SSH_ASKPASS", "EDITOR", "AUTHCTL_TOKEN",
  ];

  it("env_var, extra_env and oauth_env_var refuse each such name, naming the file, the field and why", () => {
    for (const name of refusedNames) {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ ...base, api_key: { env_var: name } }, /demo\.yaml: api_key\.env_var: /],
        [{ ...base, delivery: { extra_env: ["DEMO_TOKEN", name] } }, /demo\.yaml: delivery\.extra_env\.1: /],
        [{ ...base, delivery: { oauth_env_var: name } }, /demo\.yaml: delivery\.oauth_env_var: /],
      ];
      for (const [entry, where] of cases) {
        let error: unknown;
        try {
          parseProviderFile("/x/agents/demo.yaml", stringify(entry));
        } catch (e) {
          error = e;
        }
        expect(error, `${name} was accepted`).toBeInstanceOf(RosterError);
        expect((error as Error).message).toMatch(where);
        expect((error as Error).message).toContain(`${name} changes how`);
      }
    }
  });

  it("names that only carry a secret are still accepted", () => {
    for (const name of ["DEMO_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "GH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "PATHFINDER_KEY", "NODEPING_KEY"]) {
      expect(parseProviderFile("/x/agents/demo.yaml", stringify({ ...base, delivery: { extra_env: [name] } })).delivery?.extra_env).toEqual([name]);
    }
  });

  it("`authctl run` with a user roster exporting the key as LD_PRELOAD refuses to start the command; the key reaches no output", async () => {
    const home = freshHome("authctl-boundary-env-");
    writeUserRoster(home, { ...base, delivery: { extra_env: ["LD_PRELOAD"] } });
    const key = canary("demo-");
    const store = CredentialStore.open({ home, env: baseEnv() });
    store.put("default", "demo", "api_key", { type: "api_key", key }, { preview: "demo-…" });
    store.close();
    const marker = join(home, "ran");
    const r = await runInProcess(childEnv(home), ["run", "--only", "demo", "--no-mask", "--no-token", "--", "sh", "-c", `echo ran > ${marker}; echo ok`]);
    expect(`${r.stdout}${r.stderr}`).not.toContain(key);
    expect(r.exitCode, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/agents\/demo\.yaml: delivery\.extra_env\.0: LD_PRELOAD changes how/);
    expect(() => readFileSync(marker)).toThrow();
  });
});

describe("13: a session id is a plain name: no ':' to split a -v argument", () => {
  it("`container-args --session a:b` is refused before anything is minted or written", async () => {
    const home = freshHome("ab-"); // short: a socket path has at most 107 bytes
    const store = CredentialStore.open({ home, env: baseEnv() });
    store.put("foo", "claude", "api_key", { type: "api_key", key: canary("sk-ant-") }, { preview: "sk-ant-…" });
    store.close();
    const socket = join(dirname(home), "p.sock");
    const server: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(socket, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

    for (const id of ["a:b", "x:/etc:rw", "a,b"]) {
      const r = await runInProcess(childEnv(home), ["container-args", "claude", "--project", "foo", "--socket", socket, "--session", id, "--json"]);
      expect(r.exitCode, `${id}: ${r.stdout}`).toBe(2);
      // With --json the error is one JSON object on stderr.
      const { error } = JSON.parse(r.stderr) as { error: { code: string; message: string } };
      expect(error.code).toBe("usage");
      expect(error.message).toMatch(/session id ".*" must be 1-128 of A-Z a-z 0-9 \. _ -/);
      expect(existsSync(join(home, "agent-sessions", id)), id).toBe(false);
    }
    const r = await runInProcess(childEnv(home), ["proxy", "client", "claude", "--set", "foo", "--session", "a:b", "--base-url", "http://127.0.0.1:1"]);
    expect(r.exitCode, r.stdout).toBe(2);
    expect(r.stderr).toMatch(/session id "a:b" must be/);
  });

  it("mintPhantoms refuses ':' and still takes the ids authctl makes", () => {
    const home = freshHome("authctl-boundary-mint-");
    const store = CredentialStore.open({ home, env: baseEnv() });
    cleanups.push(() => store.close());
    const context = ctxOf(store);
    expect(() => mintPhantoms("anthropic", { context, sessionId: "box:1" })).toThrow(UsageError);
    expect(mintPhantoms("anthropic", { context, sessionId: "agent-work.1_x-0a1b2c3d" }).sessionId).toBe("agent-work.1_x-0a1b2c3d");
  });
});

describe("14: the passphrase command does not inherit authctl's secrets", () => {
  it("a command that dumps its environment sees PATH and HOME but not AUTHCTL_TOKEN", () => {
    const home = freshHome("authctl-boundary-passphrase-");
    mkdirSync(home, { recursive: true });
    const dump = join(home, "..", "passphrase-env");
    const token = canary("authctl-token-");
    const env = { PATH: process.env.PATH!, HOME: home, AUTHCTL_TOKEN: token, AUTHCTL_PASSPHRASE_COMMAND: `env > '${dump}'; printf 'correct horse'` };
    const store = CredentialStore.open({ home, env });
    cleanups.push(() => store.close());
    store.put("default", "demo", "api_key", { type: "api_key", key: canary("k-") }, { preview: "k-…" });
    expect(store.keySource).toBe("AUTHCTL_PASSPHRASE_COMMAND");
    const seen = readFileSync(dump, "utf8");
    expect(seen).toMatch(/^PATH=/m);
    expect(seen).toMatch(/^HOME=/m);
    expect(seen).not.toContain(token);
    expect(seen).not.toMatch(/^AUTHCTL_(TOKEN|PASSPHRASE|PASSPHRASE_COMMAND)=/m);
  });
});
