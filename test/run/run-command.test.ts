import { execa } from "execa";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ServiceClient } from "../../src/access/client.js";
import { CredentialStore } from "../../src/store/store.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { countOccurrences, filesContaining } from "../helpers/leaks.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PRINT_ENV = `for (const n of ["ANTHROPIC_API_KEY","GH_TOKEN","GITHUB_TOKEN","CLAUDE_CODE_OAUTH_TOKEN","AUTHCTL_PASSPHRASE"]) console.log(n + "=" + (process.env[n] ?? "-"))`;

/** A home with an Anthropic key and a GitHub token in the default set, under a passphrase. */
async function home() {
  const t = tempHome("authctl-run-");
  const passphrase = canary("pass");
  const extraEnv = { AUTHCTL_PASSPHRASE: passphrase };
  const anthropic = canary("sk-ant-");
  const gh = canary("ghp_");
  expect((await authctl(t.home, ["key", "anthropic", "--stdin"], { input: anthropic, extraEnv })).exitCode).toBe(0);
  expect((await authctl(t.home, ["key", "gh", "--stdin"], { input: gh, extraEnv })).exitCode).toBe(0);
  cleanups.push(t.cleanup, () => authctl(t.home, ["serve", "stop"], { extraEnv }));
  const run = (args: string[], options: Parameters<typeof authctl>[2] = {}) => authctl(t.home, ["run", ...args], { ...options, extraEnv: { ...extraEnv, ...options.extraEnv } });
  return { ...t, passphrase, extraEnv, anthropic, gh, run };
}

describe("authctl run", () => {
  it("gives the child each secret under the roster's names, concealed in its piped output", async () => {
    const h = await home();
    const r = await h.run(["--no-token", "--", "node", "-e", PRINT_ENV]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("ANTHROPIC_API_KEY=<concealed by authctl>");
    expect(r.stdout).toContain("GH_TOKEN=<concealed by authctl>");
    expect(r.stdout).toContain("GITHUB_TOKEN=<concealed by authctl>");
    expect(r.stdout).toContain("AUTHCTL_PASSPHRASE=-"); // the child never gets the store's key
    for (const secret of [h.anthropic, h.gh, h.passphrase]) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it("--no-mask passes the output through; --only exports exactly the named providers", async () => {
    const h = await home();
    const r = await h.run(["--no-mask", "--no-token", "--only", "anthropic", "--", "node", "-e", PRINT_ENV]);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([`ANTHROPIC_API_KEY=${h.anthropic}`, "GH_TOKEN=-", "GITHUB_TOKEN=-", "CLAUDE_CODE_OAUTH_TOKEN=-", "AUTHCTL_PASSPHRASE=-"]);
  });

  it("conceals a secret the child writes in two pieces, on stdout and stderr", async () => {
    const h = await home();
    const script = `const s = process.env.ANTHROPIC_API_KEY; process.stdout.write("a " + s.slice(0, 7)); process.stderr.write(s.slice(0, 3));
      setTimeout(() => { process.stdout.write(s.slice(7) + " b\\n"); process.stderr.write(s.slice(3) + "\\n"); }, 100);`;
    const r = await h.run(["--no-token", "--", "node", "-e", script]);
    expect(r.stdout).toBe("a <concealed by authctl> b");
    expect(r.stderr).toBe("<concealed by authctl>");
  });

  it("returns the child's exit code, 128+n when a signal ended it, 127 (as shells and env do) when it cannot start", async () => {
    const h = await home();
    expect((await h.run(["--no-token", "--", "sh", "-c", "exit 7"])).exitCode).toBe(7);
    expect((await h.run(["--no-token", "--", "sh", "-c", "kill -KILL $$"])).exitCode).toBe(137);
    const missing = await h.run(["--no-token", "--", "no-such-command-authctl"]);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/cannot run "no-such-command-authctl": command not found on PATH/);
    expect(existsSync(join(h.home, "run"))).toBe(false); // no service started for a command that cannot run
    const nope = await h.run(["--", "./nope"]);
    expect(nope.exitCode).toBe(127);
    expect(nope.stderr).toMatch(/cannot run "\.\/nope": no such executable file/);
    expect((await h.run(["--no-token"])).exitCode).toBe(2);
  });

  it("forwards a stop signal to the child and waits for it", async () => {
    const h = await home();
    const script = `process.on("SIGTERM", () => { console.log("child got SIGTERM"); process.exit(42); }); console.log("ready"); setInterval(() => {}, 1000);`;
    const child = execa("node", [CLI, "run", "--no-token", "--", "node", "-e", script], { env: childEnv(h.home, h.extraEnv), extendEnv: false, reject: false, stdin: "ignore" });
    await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()));
    child.kill("SIGTERM");
    const r = await child;
    expect(r.stdout).toContain("child got SIGTERM");
    expect(r.exitCode).toBe(42);
  });

  it("a missing credential exits 3 with the fix command before the child starts", async () => {
    const h = await home();
    const marker = join(h.home, "..", "started");
    const r = await h.run(["--only", "anthropic,openai", "--", "touch", marker]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no credentials for default:openai; run: authctl key openai/);
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses Claude's subscription OAuth (proxy_only) by name, and leaves it out otherwise", async () => {
    const h = await home();
    const token = canary("sk-ant-oat01-");
    {
      using store = CredentialStore.open({ home: h.home, env: h.extraEnv });
      store.put("default", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: token }, { preview: "sk-…" });
    }
    const named = await h.run(["--no-token", "--only", "claude", "--", "node", "-e", PRINT_ENV]);
    expect(named.exitCode).toBe(1);
    expect(named.stderr).toMatch(/default:claude \(oauth\) is proxy_only/);
    expect(named.stdout).toBe("");
    const all = await h.run(["--no-mask", "--no-token", "--", "node", "-e", PRINT_ENV]);
    expect(all.exitCode).toBe(0);
    expect(all.stderr).toMatch(/not exporting default:claude: oauth is proxy_only/);
    expect(all.stdout).toContain("CLAUDE_CODE_OAUTH_TOKEN=-");
    expect(all.stdout + all.stderr).not.toContain(token);
  });

  it("hands the child a token for the service it starts on demand, scoped to its grant and revoked at exit; nothing on disk", async () => {
    const h = await home();
    const script = `console.log(process.env.AUTHCTL_SOCKET + " " + process.env.AUTHCTL_TOKEN)`;
    const r = await h.run(["--no-mask", "--only", "anthropic", "--", "node", "-e", script]); // the token is masked like the secrets
    expect(r.exitCode).toBe(0);
    const [socketPath, token] = r.stdout.trim().split(" ");
    expect(socketPath).toBe(join(h.home, "run", "authctl.sock"));
    expect(token).toMatch(/^act_[a-f0-9]{16}_/);
    await expect(new ServiceClient({ socketPath: socketPath!, token: token! }).head("default", "anthropic")).rejects.toThrow(/revoked/);
    const events = readAudit(auditPath(h.home)).map((e) => `${e.actor} ${e.op} ${e.allowed}`);
    expect(events.slice(0, 2)).toEqual(["local stored true", "local stored true"]); // the two \`authctl key\` of the setup
    expect(events.slice(2, 4)).toEqual(["admin tokens/mint true", "admin tokens/revoke true"]);
    const log = await authctl(h.home, ["serve", "log", "--json"], { extraEnv: h.extraEnv });
    expect(JSON.parse(log.stdout).length).toBeGreaterThanOrEqual(3);
    for (const secret of [h.anthropic, h.gh, h.passphrase]) {
      expect(countOccurrences(log.stdout, secret)).toBe(0);
      expect(filesContaining(h.home, secret)).toEqual([]);
      expect(filesContaining(tmpdir(), secret, [h.home])).toEqual([]);
    }
  });
});
