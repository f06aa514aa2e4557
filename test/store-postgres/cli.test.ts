import { describe, expect, it } from "vitest";
import { authctl, canary } from "../helpers/env.js";
import { usePostgres } from "../helpers/postgres.js";

/**
 * The built CLI (dist/bin: `npm run build` first) on a PostgreSQL store: the bundled bin finds pg
 * for its worker, stores and lists through it, exits when done, and an unreachable database is
 * one line on stderr and exit 1.
 */
describe("the CLI on a PostgreSQL store", () => {
  const pg = usePostgres("authctl-pgcli-");
  const home = pg.homes[0]!;

  it("stores a key, lists it and prints it back, never showing the database password", async ({ skip }) => {
    if (!pg.cluster) return skip();
    const url = await pg.cluster.database("cli");
    const password = new URL(url).password;
    const key = canary("sk-proj-");
    const env = { AUTHCTL_STORE_URL: url };
    const stored = await authctl(home, ["key", "openai", "--stdin"], { input: key, extraEnv: env, timeout: 30_000 });
    expect(stored.stderr).not.toContain(key);
    expect(stored.exitCode, String(stored.stderr)).toBe(0);
    const listed = await authctl(home, ["creds", "list"], { extraEnv: env, timeout: 30_000 });
    expect(listed.exitCode, String(listed.stderr)).toBe(0);
    expect(listed.stdout).toContain("openai");
    expect(listed.stdout).not.toContain(key);
    const token = await authctl(home, ["token", "openai"], { extraEnv: env, timeout: 30_000 });
    expect(token.exitCode, String(token.stderr)).toBe(0);
    expect(token.stdout.trim()).toBe(key);
    for (const r of [stored, listed, token]) expect(`${r.stdout}${r.stderr}`).not.toContain(password);
  });

  it("an unreachable database: one line naming it, exit 1, no password", async ({ skip }) => {
    if (!pg.cluster) return skip();
    const secret = canary("pw");
    const r = await authctl(home, ["creds", "list"], { extraEnv: { AUTHCTL_STORE_URL: `postgres://fleet:${secret}@127.0.0.1:9/nowhere` }, timeout: 30_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    const lines = String(r.stderr).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PostgreSQL store 127\.0\.0\.1:9\/nowhere cannot be reached \(ECONNREFUSED/);
    expect(r.stderr).not.toContain(secret);
  });
});
