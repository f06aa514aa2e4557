import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { authctl, canary, childEnv } from "../helpers/env.js";
import { usePostgres } from "../helpers/postgres.js";

/**
 * `authctl __complete` (what the completion scripts call at Tab) on a PostgreSQL store: the stored
 * sets and providers are in the database, not in a credentials.db in the home, and a host that
 * never stored anything (no key file either) completes them too: the names are metadata.
 */
describe("shell completion on a PostgreSQL store", () => {
  const pg = usePostgres("authctl-pgcomp-a-", "authctl-pgcomp-b-");
  const [writer, reader] = pg.homes as [string, string];
  const printed: string[] = [];
  let url = "";

  beforeAll(async () => {
    if (!pg.cluster) return;
    url = await pg.cluster.database("completion");
    const stored = await authctl(writer, ["key", "openai", "--set", "fleetset", "--stdin"], { input: canary("sk-proj-"), extraEnv: { AUTHCTL_STORE_URL: url }, timeout: 30_000 });
    expect(stored.exitCode, String(stored.stderr)).toBe(0);
    // A provider no roster names (a home's own roster entry on the host that logged in): only the store knows it.
    const store = CredentialStore.open({ home: writer, env: childEnv(writer, { AUTHCTL_STORE_URL: url }) });
    try {
      store.put("fleetset", "inhouse-gateway", "api_key", { type: "api_key", key: canary("gw-") }, { preview: "gw…" });
    } finally {
      store.close();
    }
  }, 90_000);

  const names = async (home: string, what: string, storeUrl: string) => {
    const r = await authctl(home, ["__complete", what], { extraEnv: { AUTHCTL_STORE_URL: storeUrl }, timeout: 30_000 });
    printed.push(String(r.stdout), String(r.stderr));
    return { exitCode: r.exitCode, names: String(r.stdout).split("\n").filter(Boolean), stderr: String(r.stderr) };
  };

  it("completes the sets stored in the database, on the host that stored them and on one that has no key", async ({ skip }) => {
    if (!pg.cluster) return skip();
    for (const home of [writer, reader]) {
      const sets = await names(home, "sets", url);
      expect(sets, home).toEqual({ exitCode: 0, names: ["default", "fleetset"], stderr: "" });
      expect(existsSync(join(home, "credentials.db"))).toBe(false);
    }
  });

  it("completes the providers: the roster's and the stored ones", async ({ skip }) => {
    if (!pg.cluster) return skip();
    const providers = await names(reader, "providers", url);
    expect(providers.exitCode).toBe(0);
    expect(providers.names).toEqual(expect.arrayContaining(["openai", "gh", "anthropic", "inhouse-gateway"]));
  });

  it("an unreachable database still completes the roster's names and the default set, and says nothing at Tab", async ({ skip }) => {
    if (!pg.cluster) return skip();
    const secret = canary("pw");
    const down = `postgres://fleet:${secret}@127.0.0.1:9/nowhere`;
    const sets = await names(reader, "sets", down);
    expect(sets).toEqual({ exitCode: 0, names: ["default"], stderr: "" });
    const providers = await names(reader, "providers", down);
    expect(providers.names).toEqual(expect.arrayContaining(["openai", "gh"]));
    expect(providers.stderr).toBe("");
    expect(printed.join("\n")).not.toContain(secret);
  });

  it("never prints the database password", ({ skip }) => {
    if (!pg.cluster) return skip();
    expect(printed.join("\n")).not.toContain(new URL(url).password);
  });
});
