import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../src/store/store.js";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { runInProcess } from "./helpers/memory-io.js";

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

describe("authctl output, part 3 (in-process)", () => {
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
