import { readFileSync, statSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { auditPath, type AuditEvent } from "../src/store/audit.js";
import { authctl, canary, tempHome } from "./helpers/env.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("authctl audit: credential lifecycle events", () => {
  it("records stored and removed once each with set, provider, kind and pid, never the key; --since and serve log", async () => {
    const t = tempHome("authctl-audit-");
    cleanups.push(t.cleanup);
    const key = canary("sk-ant-");
    const extraEnv = { AUTHCTL_PASSPHRASE: canary("pass") };
    const cli = (args: string[], input?: string) => authctl(t.home, args, { extraEnv, ...(input === undefined ? {} : { input }) });
    expect((await cli(["key", "anthropic", "--stdin", "--set", "work"], key)).exitCode).toBe(0);
    expect((await cli(["creds", "rm", "work:anthropic"])).exitCode).toBe(0);
    expect((await cli(["creds", "rm", "work:anthropic"])).exitCode).not.toBe(0); // nothing removed: no event

    const audit = await cli(["audit", "--json"]);
    expect(audit.exitCode, String(audit.stderr)).toBe(0);
    const events = JSON.parse(String(audit.stdout)) as AuditEvent[];
    expect(events.map((e) => [e.op, e.target, e.kind, e.actor, e.allowed])).toEqual([
      ["stored", "work:anthropic", "api_key", "local", true],
      ["removed", "work:anthropic", "api_key", "local", true],
    ]);
    for (const e of events) {
      expect(e.pid).toEqual(expect.any(Number));
      expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 120_000);
    }
    expect(statSync(auditPath(t.home)).mode & 0o777).toBe(0o600);
    expect(readFileSync(auditPath(t.home), "utf8")).not.toContain(key);

    const table = await cli(["audit", "--since", "1h"]);
    expect(table.stdout).toMatch(/stored\s+work:anthropic\s+allowed/);
    expect(JSON.parse(String((await cli(["audit", "--since", "2999-01-01T00:00:00Z", "--json"])).stdout))).toEqual([]);
    expect(JSON.parse(String((await cli(["serve", "log", "--json"])).stdout))).toEqual(events);
    const bad = await cli(["audit", "--since", "yesterday"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--since takes a time");
    // Chained: the key command signed its line as it closed the store; creds rm never unlocked it, so its line waits for the next checkpoint.
    const verified = await cli(["audit", "verify"]);
    expect(verified.exitCode, String(verified.stderr)).toBe(0);
    expect(verified.stdout).toBe("audit log intact: 3 lines in 1 file, 1 checkpoint");
    expect(verified.stderr).toContain("warning: the log ends 1 line after the last checkpoint");
    for (const r of [audit, table, bad, verified]) expect(String(r.stdout) + String(r.stderr)).not.toContain(key);
  });
});
