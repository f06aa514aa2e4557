import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { execa } from "execa";
import { CLI, canary, childEnv, tempHome, testEnv } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";
import { runInPty } from "./helpers/pty.js";
import { TEST_IMAGE } from "./helpers/engine.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { writeUserRoster } from "./helpers/host-roster.js";

const t = tempHome();
afterAll(() => t.cleanup());
const secrets: string[] = [];
async function run(args: string[], input?: string) {
  const r = await runInProcess(childEnv(t.home), args, input);
  for (const s of secrets) expect(r.stdout + r.stderr).not.toContain(s);
  return r;
}
async function json(args: string[], input?: string): Promise<unknown> {
  const r = await run([...args, "--json"], input);
  expect(r.exitCode, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** Names that hold a point in time in authctl's JSON: `createdAt`, `expiresAt`, `time`, `until`, … */
const TIME_FIELD = /(At|^time|^until|^since)$/;

/** Every field holding a time, anywhere in a JSON value, as `path = value`. */
function timeFields(value: unknown, path = "$"): Array<{ path: string; value: unknown }> {
  if (Array.isArray(value)) return value.flatMap((v, i) => timeFields(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => [...(TIME_FIELD.test(k) && v !== null ? [{ path: `${path}.${k}`, value: v }] : []), ...timeFields(v, `${path}.${k}`)]);
}

// One home for the whole file: an API key, a gh login that expires in 3h, a proxy session.
let client: unknown;
beforeAll(async () => {
  const key = canary("sk-ant-api03-");
  const gh = canary("gho_");
  secrets.push(key, gh);
  expect((await run(["key", "anthropic"], key)).exitCode).toBe(0);
  // A login that expires, so every expiresAt below holds a time and not null.
  using store = CredentialStore.open({ home: t.home, env: childEnv(t.home) });
  const payload = { type: "oauth", provider: "gh", files: { "hosts.yml": `oauth_token: ${gh}\n` }, accessToken: gh };
  store.put("default", "gh", "oauth", payload, { preview: "gho…", expiresAt: new Date(Date.now() + 3 * 3600_000) });
  // A proxy session, which proxy list and audit --session show.
  client = await json(["proxy", "client", "anthropic", "--session", "box-1", "--base-url", "http://127.0.0.1:9"]);
});

describe("authctl output, part 3 (in-process)", () => {

  it("every time in every --json output is ISO 8601 UTC with milliseconds (one form)", async () => {
    const outputs: Record<string, unknown> = {
      "proxy client": client,
      "key": await json(["key", "anthropic", "--set", "second"], canary("sk-ant-api03-")),
      "creds list": await json(["creds", "list"]),
      "creds show": await json(["creds", "show", "gh"]),
      "status": await json(["status"]),
      "audit": await json(["audit"]),
      "audit --session": await json(["audit", "--session", "box-1"]),
      "proxy list": await json(["proxy", "list"]),
      "serve status": JSON.parse((await run(["serve", "status", "--json"])).stdout),
    };
    const fields = Object.entries(outputs).flatMap(([command, out]) => timeFields(out).map((f) => ({ command, ...f })));
    const seen = new Set(fields.map((f) => f.command));
    for (const command of ["proxy client", "creds list", "creds show", "status", "audit", "proxy list"]) expect(seen, `${command} shows no time`).toContain(command);
    expect(fields.filter((f) => typeof f.value !== "string" || !ISO_UTC.test(f.value))).toEqual([]);
  });

  it("a session's id is `sessionId` in every JSON: proxy client, list, revoke and the login session commands", async () => {
    const login = "0123456789abcdef";
    const cleaned = (await json(["session", "cleanup", login])) as Record<string, unknown>;
    // `id` stays beside it: login frontends read it from `session prepare --json` (docs/logging-in.md).
    expect(cleaned).toEqual({ sessionId: login, id: login, cleaned: true });
    const listed = (await json(["proxy", "list"])) as { sessions: Array<Record<string, unknown>> };
    expect(listed.sessions.map((s) => s.sessionId)).toEqual(["box-1"]);
    expect(client).toMatchObject({ sessionId: "box-1" });
    for (const out of [listed.sessions[0], client]) expect(out).not.toHaveProperty("id");
  });

  it("tables show times as local and readable or relative (in 3h, 2m ago), never an ISO string", async () => {
    const tables = await Promise.all([["creds", "list"], ["creds", "show", "gh"], ["status"], ["audit"], ["proxy", "list"]].map((args) => run(args)));
    for (const r of tables) {
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
    }
    const [list, show, status, audit, proxy] = tables.map((r) => r.stdout);
    expect(list).toMatch(/default\s+gh\s+oauth\s+gho…\s+in 3h\s+now/);
    expect(show).toMatch(/expires\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 3h\)/);
    expect(show).toMatch(/created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(now\)/);
    expect(status).toMatch(/default\s+gh\s+expiring in 3h, needs login\s.*\sin 3h/);
    expect(audit).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(now\)\s+local\s+stored/);
    expect(proxy).toMatch(/box-1\s+anthropic\s+default\s+now\s+in 12h\s+live/);
  });
});

describe("creds show --check: the account a login belongs to, probed as status --check probes it", () => {
  it("shows the gh user of a good token (table and JSON); a refused one is 'rejected', exit 1; the secret goes only to the vendor", async () => {
    const h = tempHome();
    const good = canary("gho_");
    const bad = canary("gho_");
    const upstream = await fakeUpstream((req, res) => {
      if (req.url === "/user" && req.headers.authorization === `Bearer ${good}`) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ login: "octocat", id: 1 }));
      else res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ message: "Bad credentials" }));
    });
    try {
      // gh's shipped roster entry, its upstream pointed at the local fake.
      const gh = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "gh.yaml"), "utf8"));
      gh.proxy.oauth.base_url = upstream.url;
      writeUserRoster(h.home, gh);
      {
        using store = CredentialStore.open({ home: h.home, env: childEnv(h.home) });
        for (const [set, token] of [["default", good], ["ci", bad]] as const) {
          store.put(set, "gh", "oauth", { type: "oauth", provider: "gh", files: { "hosts.yml": `oauth_token: ${token}\n` }, accessToken: token }, { preview: "gho…" });
        }
      }
      const show = (args: string[]) => runInProcess(childEnv(h.home), ["creds", "show", "gh", "--check", ...args]);
      const table = await show([]);
      const okJson = await show(["--json"]);
      const refused = await show(["--set", "ci", "--json"]);
      for (const r of [table, okJson, refused]) expect(r.stdout + r.stderr).not.toMatch(new RegExp(`${good}|${bad}`));
      expect(table.exitCode, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/account\s+octocat/);
      expect(okJson.exitCode, okJson.stderr).toBe(0);
      const host = new URL(upstream.url).host;
      expect(JSON.parse(okJson.stdout)).toMatchObject({ credentialSet: "default", provider: "gh", check: { result: "ok", identity: "octocat", detail: `GET ${host}/user answered 200` } });
      expect(refused.exitCode).toBe(1);
      expect(JSON.parse(refused.stdout).check).toEqual({ result: "rejected", detail: `rejected: GET ${host}/user answered 401` });
      // Each secret went once, in the Authorization header, to the vendor's probe path only.
      expect(upstream.arrivals.map((a) => [a.url, a.headers.authorization])).toEqual([
        ["/user", `Bearer ${good}`],
        ["/user", `Bearer ${good}`],
        ["/user", `Bearer ${bad}`],
      ]);
      // Without --check nothing is asked of the vendor.
      expect((await runInProcess(childEnv(h.home), ["creds", "show", "gh"])).exitCode).toBe(0);
      expect(upstream.arrivals).toHaveLength(3);
    } finally {
      await upstream.close();
      h.cleanup();
    }
  });
});

describe("colour (the built CLI): on a terminal or with FORCE_COLOR, never with NO_COLOR, off a terminal or under --json", () => {
  const ANSI = /\u001b\[[0-9;]*m/;
  // Not childEnv: it sets NO_COLOR for every other test.
  const env = (extra: Record<string, string>) => {
    const base: Record<string, string> = { ...testEnv(), AUTHCTL_HOME: t.home, TERM: "xterm-256color" };
    delete base.NO_COLOR;
    delete base.FORCE_COLOR;
    return { ...base, ...extra };
  };
  const cli = (args: string[], extra: Record<string, string> = {}) => execa("node", [CLI, ...args], { env: env(extra), extendEnv: false, reject: false, stdin: "ignore" });

  it("FORCE_COLOR=1: bold headers, green valid, yellow expiring; NO_COLOR=1 or a pipe: none; --json: none", async () => {
    const forced = await cli(["status"], { FORCE_COLOR: "1" });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.stdout).toContain("\u001b[1mSET\u001b[22m");
    expect(forced.stdout).toMatch(/\u001b\[32mvalid\u001b\[39m/);
    expect(forced.stdout).toMatch(/\u001b\[33mexpiring in 3h, needs login\u001b\[39m/);
    // The columns still line up: widths count what shows, not the escapes.
    const plain = (await cli(["status"])).stdout;
    expect(forced.stdout.replace(new RegExp(ANSI.source, "g"), "")).toBe(plain);
    // Other states: a daemon that does not run is red; every passing doctor check is green.
    expect((await cli(["serve", "status"], { FORCE_COLOR: "1" })).stdout).toContain("\u001b[31mnot running\u001b[39m");
    expect((await cli(["providers"], { FORCE_COLOR: "1" })).stdout).toContain("\u001b[1mNAME\u001b[22m");
    const doctor = ["doctor", "--image", TEST_IMAGE];
    expect((await cli(doctor, { FORCE_COLOR: "1" })).stdout).toMatch(/^\u001b\[32mok  \u001b\[39m  engine/m);
    for (const [args, extra] of [
      [["serve", "status"], {}],
      [doctor, {}],
      [["providers"], {}],
      [["status"], {}],
      [["creds", "list"], {}],
      [["status"], { NO_COLOR: "1", FORCE_COLOR: "1" }],
      [["status", "--json"], { FORCE_COLOR: "1" }],
      [["creds", "list", "--json"], { FORCE_COLOR: "1" }],
    ] as const) {
      const r = await cli([...args], extra);
      // serve status exits 1 when no daemon runs; what matters is that it printed, plainly.
      expect(r.stdout.length, r.stderr).toBeGreaterThan(0);
      expect(r.stdout, `${args.join(" ")} ${JSON.stringify(extra)}`).not.toMatch(ANSI);
    }
  });

  it("a terminal gets colour unless NO_COLOR is set", async () => {
    const tty = runInPty(["node", CLI, "creds", "list"], env({}));
    await tty.child;
    expect(tty.output()).toContain("\u001b[1mPROVIDER\u001b[22m");
    const plain = runInPty(["node", CLI, "creds", "list"], env({ NO_COLOR: "1" }));
    await plain.child;
    expect(plain.output()).toContain("PROVIDER");
    expect(plain.output()).not.toMatch(ANSI);
  });
});
