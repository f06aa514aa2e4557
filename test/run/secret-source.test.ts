import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Authctl } from "../../src/context.js";
import { getCredentials } from "../../src/access/credentials.js";
import { ApiKeyStrategy } from "../../src/access/strategies.js";
import { authctl, canary, REPO, tempHome } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { filesContaining, STACK_TRACE } from "../helpers/leaks.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A stand-in for `vault` on PATH: its last argument picks what it does. The secret comes from its
 * environment (FAKE_VAULT_SECRET), so it is never in argv or on disk, and a failing run prints it
 * on both streams to prove authctl never repeats a failed command's output.
 */
const FAKE_VAULT = `#!/bin/sh
for last in "$@"; do :; done
case "$last" in
  secret/ok) printf '%s\\n' "$FAKE_VAULT_SECRET" ;;
  secret/fail) echo "$FAKE_VAULT_SECRET"; echo "denied $FAKE_VAULT_SECRET" >&2; exit 3 ;;
  secret/slow) exec sleep 30 ;;
  secret/empty) printf '\\n' ;;
  secret/huge) head -c 200000 /dev/zero | tr '\\0' x; echo "$FAKE_VAULT_SECRET" ;;
esac
`;

const PRINT_KEYS = `for (const n of ["ANTHROPIC_API_KEY","VAULTED_KEY"]) console.log(n + "=" + (process.env[n] ?? "-"))`;

function setup() {
  const t = tempHome("authctl-source-");
  const bin = join(t.home, "..", "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "vault"), FAKE_VAULT);
  chmodSync(join(bin, "vault"), 0o755);
  const secret = canary("sk-ant-api03-");
  const passphrase = canary("pass");
  const extraEnv = { AUTHCTL_PASSPHRASE: passphrase, FAKE_VAULT_SECRET: secret, PATH: `${bin}:${process.env.PATH}` };
  cleanups.push(t.cleanup);
  const cli = (args: string[]) => authctl(t.home, args, { extraEnv });
  /** A user roster provider whose key comes from `vault kv get … <path>`. */
  const declare = (path: string, timeout_ms = 5000) => {
    mkdirSync(join(t.home, "agents"), { recursive: true });
    const entry = { name: "vaulted", label: "Vaulted", kind: "service", modes: ["api_key"], api_key: { env_var: "VAULTED_KEY" }, source: { command: ["vault", "kv", "get", "-field=key", path], timeout_ms } };
    writeFileSync(join(t.home, "agents", "vaulted.yaml"), stringify(entry));
  };
  const leaks = () => [...filesContaining(join(t.home, ".."), secret), ...filesContaining(tmpdir(), secret, [join(t.home, "..")])];
  return { ...t, secret, passphrase, extraEnv, cli, declare, leaks };
}

describe("command secret sources", () => {
  it("key --command stores only the argv; run and getCredentials run it on demand; the output is never on disk", async () => {
    const s = setup();
    const stored = await s.cli(["key", "anthropic", "--command", "--json", "--", "vault", "kv", "get", "-field=key", "secret/ok"]);
    expect(stored.exitCode, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ provider: "anthropic", kind: "command", preview: "$(vault kv get -field=key secret/ok)" });
    const run = await s.cli(["run", "--no-mask", "--no-token", "--only", "anthropic", "--", "node", "-e", PRINT_KEYS]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ANTHROPIC_API_KEY=${s.secret}`);
    const list = await s.cli(["creds", "list", "--json"]);
    expect(list.stdout).toContain("command");
    for (const r of [stored, list]) expect(r.stdout + r.stderr).not.toContain(s.secret);
    expect(s.leaks()).toEqual([]);

    using context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: s.home, ...s.extraEnv }, home: s.home });
    const credential = getCredentials("anthropic", { context });
    expect(credential).toMatchObject({ kind: "command", payload: { key: s.secret, command: ["vault", "kv", "get", "-field=key", "secret/ok"] } });
    const resolved = await new ApiKeyStrategy({ auth_type: "api_key", provider: "anthropic" }, { context }).getCredentials();
    expect(resolved).toMatchObject({ secret: s.secret, source: "command" });
  });

  it("the service runs a stored command source for a token holder inside `authctl run`", async () => {
    const s = setup();
    cleanups.push(() => s.cli(["serve", "stop"]));
    expect((await s.cli(["key", "anthropic", "--command", "--", "vault", "kv", "get", "secret/ok"])).exitCode).toBe(0);
    const script = `import { getCredentials } from ${JSON.stringify(join(REPO, "dist/index.js"))};
      const c = getCredentials("anthropic"); console.log(c.kind, c.payload.key === process.env.ANTHROPIC_API_KEY, Boolean(process.env.AUTHCTL_TOKEN))`;
    const run = await s.cli(["run", "--only", "anthropic", "--", "node", "--input-type=module", "-e", script]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("command true true");
    expect(run.stdout + run.stderr).not.toContain(s.secret);
    expect(s.leaks()).toEqual([]);
  });

  it("a roster `source` is used by run without anything stored, and masked in piped output", async () => {
    const s = setup();
    s.declare("secret/ok");
    const run = await s.cli(["run", "--no-token", "--", "node", "-e", PRINT_KEYS]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain("VAULTED_KEY=<concealed by authctl>");
    expect(run.stdout + run.stderr).not.toContain(s.secret);
    expect(s.leaks()).toEqual([]);
  });

  it.each([
    ["secret/fail", /exited with status 3/],
    ["secret/empty", /printed nothing/],
    ["secret/huge", /printed more than 65536 bytes/],
    ["secret/slow", /did not finish within 400 ms/],
  ])("%s: run fails before the child starts, naming provider and command, never the output", async (path, why) => {
    const s = setup();
    s.declare(path, 400);
    const started = Date.now();
    const run = await s.cli(["run", "--no-token", "--only", "vaulted", "--", "node", "-e", "console.log('child ran')"]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).not.toContain("child ran");
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toContain(`vaulted: the secret command \`vault kv get -field=key ${path}\``);
    expect(run.stderr).not.toMatch(STACK_TRACE);
    expect(run.stdout + run.stderr).not.toContain(s.secret);
    expect(s.leaks()).toEqual([]);
  });

  it("key --command stores nothing when the command fails, and refuses a missing argv", async () => {
    const s = setup();
    const failed = await s.cli(["key", "anthropic", "--command", "--", "vault", "kv", "get", "secret/fail"]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/anthropic: the secret command `vault kv get secret\/fail` exited with status 3/);
    expect(failed.stdout + failed.stderr).not.toContain(s.secret);
    const missing = await s.cli(["key", "anthropic", "--command"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("--command needs the command after --");
    const list = await s.cli(["creds", "list", "--json"]);
    expect(JSON.parse(list.stdout)).toEqual([]);
    const notFound = await s.cli(["key", "anthropic", "--command", "--", "no-such-vault-cli"]);
    expect(notFound.stderr).toContain("no-such-vault-cli is not installed or not on PATH");
  });
});
