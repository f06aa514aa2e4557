import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Authctl } from "../../src/context.js";
import { getCredentials } from "../../src/access/credentials.js";
import { SecretSourceError } from "../../src/core/errors.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { readAudit } from "../../src/store/audit.js";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { filesContaining } from "../helpers/leaks.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A stand-in for `vault` that counts its runs (one line each in $FAKE_VAULT_RUNS) and fails while
 * $FAKE_VAULT_DOWN exists; the secret comes from its environment, never argv or disk.
 */
const FAKE_VAULT = `#!/bin/sh
echo run >> "$FAKE_VAULT_RUNS"
[ -e "$FAKE_VAULT_DOWN" ] && { echo "vault is sealed" >&2; exit 2; }
for last in "$@"; do :; done
case "$last" in
  secret/ok) printf '%s\\n' "$FAKE_VAULT_SECRET" ;;
  secret/other) printf 'other-%s\\n' "$FAKE_VAULT_SECRET" ;;
esac
`;

const TTL_S = 600;

function setup() {
  const t = tempHome("authctl-source-cache-");
  cleanups.push(t.cleanup);
  const root = join(t.home, "..");
  const bin = join(root, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "vault"), FAKE_VAULT);
  chmodSync(join(bin, "vault"), 0o755);
  const secret = canary("sk-ant-api03-");
  const runsFile = join(root, "runs");
  const downFile = join(root, "down");
  const extraEnv = { AUTHCTL_PASSPHRASE: canary("pass"), FAKE_VAULT_SECRET: secret, FAKE_VAULT_RUNS: runsFile, FAKE_VAULT_DOWN: downFile, PATH: `${bin}:${process.env.PATH}` };
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = { now: () => now };
  /** A fresh context (so a rewritten roster is read again) on the shared fake clock. */
  const context = () => {
    const c = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home, ...extraEnv }, home: t.home, clock });
    cleanups.push(() => c[Symbol.dispose]());
    return c;
  };
  /** A user roster provider whose key comes from `vault kv get -field=key <path>`. */
  const declare = (path: string, cache: Record<string, unknown> = { cache: true, cache_ttl_s: TTL_S }) => {
    mkdirSync(join(t.home, "agents"), { recursive: true });
    const entry = { name: "vaulted", label: "Vaulted", kind: "service", modes: ["api_key"], api_key: { env_var: "VAULTED_KEY" }, source: { command: ["vault", "kv", "get", "-field=key", path], timeout_ms: 5000, ...cache } };
    writeFileSync(join(t.home, "agents", "vaulted.yaml"), stringify(entry));
  };
  const runs = () => (existsSync(runsFile) ? readFileSync(runsFile, "utf8").split("\n").filter(Boolean).length : 0);
  const keyOf = (c: Authctl, provider = "vaulted") => (getCredentials<{ key: string }>(provider, { context: c }).payload.key);
  const cli = (args: string[]) => authctl(t.home, args, { extraEnv });
  return {
    ...t, secret, clock, context, declare, runs, keyOf, cli,
    advance: (ms: number) => void (now += ms),
    down: (isDown: boolean) => (isDown ? writeFileSync(downFile, "") : rmSync(downFile, { force: true })),
    leaks: () => filesContaining(root, secret),
  };
}

describe("cached command secret sources", () => {
  it("roster cache: true: a read within the TTL does not run the command; after expiry it runs again and refills", () => {
    const s = setup();
    s.declare("secret/ok");
    const c = s.context();
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.runs()).toBe(1);
    s.advance(TTL_S * 1000 - 1);
    expect(s.keyOf(s.context())).toBe(s.secret);
    expect(s.runs()).toBe(1);
    s.advance(2);
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.runs()).toBe(2);
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.runs()).toBe(2);
    const fills = readAudit(join(s.home, "audit.jsonl")).filter((e) => e.op === "refreshed");
    expect(fills).toMatchObject([{ target: "default:vaulted", kind: "command", actor: "local" }, { target: "default:vaulted", kind: "command" }]);
    expect(readFileSync(join(s.home, "audit.jsonl"), "utf8")).not.toContain(s.secret);
  });

  it("the cached value is sealed: no file (db, wal, key file) holds it in plaintext", () => {
    const s = setup();
    s.declare("secret/ok");
    const c = s.context();
    expect(s.keyOf(c)).toBe(s.secret);
    expect(existsSync(join(s.home, "credentials.db"))).toBe(true);
    expect(s.leaks()).toEqual([]);
    c[Symbol.dispose]();
    expect(s.leaks()).toEqual([]);
  });

  it("a failing command after expiry is an error, never the stale value", () => {
    const s = setup();
    s.declare("secret/ok");
    const c = s.context();
    expect(s.keyOf(c)).toBe(s.secret);
    s.down(true);
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.runs()).toBe(1);
    s.advance(TTL_S * 1000);
    expect(() => s.keyOf(c)).toThrow(SecretSourceError);
    expect(() => s.keyOf(c)).toThrow(/vaulted: the secret command `vault kv get -field=key secret\/ok` exited with status 2/);
    expect(s.runs()).toBe(3);
    s.down(false);
    expect(s.keyOf(c)).toBe(s.secret);
    expect(s.runs()).toBe(4);
  });

  it("changing the roster's command invalidates the cache; turning cache off removes it", () => {
    const s = setup();
    s.declare("secret/ok");
    expect(s.keyOf(s.context())).toBe(s.secret);
    s.declare("secret/other");
    expect(s.keyOf(s.context())).toBe(`other-${s.secret}`);
    expect(s.runs()).toBe(2);
    expect(s.keyOf(s.context())).toBe(`other-${s.secret}`);
    expect(s.runs()).toBe(2);
    s.declare("secret/other", {});
    const c = s.context();
    expect(s.keyOf(c)).toBe(`other-${s.secret}`);
    expect(s.runs()).toBe(3);
    expect(c.store().list()).toEqual([]);
    expect(s.leaks()).toEqual([]);
  });

  it("a stored row of the set still wins over a cached roster source", () => {
    const s = setup();
    s.declare("secret/ok");
    expect(s.keyOf(s.context())).toBe(s.secret);
    const apiKey = canary("sk-");
    const c = s.context();
    storeApiKey("vaulted", apiKey, { context: c });
    expect(s.keyOf(c)).toBe(apiKey);
    expect(s.runs()).toBe(1);
    expect(s.leaks()).toEqual([]);
  });

  it("without cache (absent or false) nothing is written and the command runs on every read", () => {
    const s = setup();
    s.declare("secret/ok", {});
    const c = s.context();
    s.keyOf(c);
    s.keyOf(c);
    s.declare("secret/ok", { cache: false });
    s.keyOf(s.context());
    expect(s.runs()).toBe(3);
    expect(c.store().list()).toEqual([]);
    expect(readAudit(join(s.home, "audit.jsonl")).filter((e) => e.op === "refreshed")).toEqual([]);
  });

  it("key --command --cache: list and status show until when, never the value; creds rm removes the cache", async () => {
    const s = setup();
    const stored = await s.cli(["key", "anthropic", "--command", "--cache", "600", "--json", "--", "vault", "kv", "get", "-field=key", "secret/ok"]);
    expect(stored.exitCode, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ provider: "anthropic", kind: "command" });
    for (let i = 0; i < 2; i++) {
      const run = await s.cli(["run", "--no-mask", "--no-token", "--only", "anthropic", "--", "node", "-e", "console.log(process.env.ANTHROPIC_API_KEY === process.env.FAKE_VAULT_SECRET)"]);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe("true");
    }
    expect(s.runs()).toBe(1);
    const list = await s.cli(["creds", "list", "--json"]);
    const [row] = JSON.parse(list.stdout) as Array<{ preview: string }>;
    expect(row!.preview).toMatch(/^\$\(vault kv get -field=key secret\/ok\) cached until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const status = await s.cli(["status"]);
    expect(status.stdout).toContain("cached until");
    for (const r of [stored, list, status]) expect(r.stdout + r.stderr).not.toContain(s.secret);
    expect(s.leaks()).toEqual([]);
    expect((await s.cli(["creds", "rm", "anthropic"])).exitCode).toBe(0);
    expect(JSON.parse((await s.cli(["creds", "list", "--json"])).stdout)).toEqual([]);
    expect(s.leaks()).toEqual([]);
  });

  it("refuses a TTL above a day, a TTL without cache: true, and a --cache that is not whole seconds", async () => {
    const s = setup();
    const bad = await s.cli(["key", "anthropic", "--command", "--cache", "1h", "--", "vault", "kv", "get", "secret/ok"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--cache takes a whole number of seconds");
    const tooLong = await s.cli(["key", "anthropic", "--command", "--cache", "86401", "--", "vault", "kv", "get", "secret/ok"]);
    expect(tooLong.exitCode).toBe(2);
    expect(tooLong.stderr).toContain("anthropic: the secret command's cache_ttl_s must be at most 86400 seconds (a day)");
    const withoutCommand = await s.cli(["key", "anthropic", "--cache", "60"]);
    expect(withoutCommand.stderr).toContain("--cache only applies with --command");
    expect(s.runs()).toBe(0);
    s.declare("secret/ok", { cache: true, cache_ttl_s: 86_401 });
    expect(s.context().roster().skipped[0]?.message).toMatch(/source\.cache_ttl_s: must be at most 86400 seconds/);
    s.declare("secret/ok", { cache_ttl_s: 60 });
    expect(s.context().roster().skipped[0]?.message).toMatch(/source\.cache_ttl_s: only applies with cache: true/);
  });
});
