import pg from "pg";
import { describe, expect, it } from "vitest";
import { recordCredential } from "../../src/credentials/index.js";
import { CredentialStore } from "../../src/store/store.js";
import { canary, childEnv } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";
import { usePostgres } from "../helpers/postgres.js";

const HOUR = 3600_000;

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The same facts on a PostgreSQL store (its migration 2): written, sealed with the row, read by status without the payload. */
describe("rows' facts on a PostgreSQL store", () => {
  const fixture = usePostgres("authctl-pgfacts-");
  const [home] = fixture.homes as [string];

  it("status states a login from its facts, its payload unread; token, which reads it, fails naming the row", async ({ skip }) => {
    if (!fixture.cluster) return skip();
    const url = await fixture.cluster.database("factsdb");
    const env = childEnv(home, { AUTHCTL_STORE_URL: url });
    const [access, refresh] = [canary("gho_"), canary("rt_")];
    const expires = Date.now() + 2 * HOUR;
    {
      using store = CredentialStore.open({ home, env });
      recordCredential({ store: () => store }, { credentialSet: "default", provider: "github-oauth", payload: { type: "oauth2", clientId: "c", access_token: access, refresh_token: refresh, expires_at: expires } });
      expect(store.info("default", "github-oauth")!.meta).toEqual({ type: "oauth2", tokenExpiresAt: expires, refreshToken: true });
    }
    // The payload unreadable: status does not need it.
    await sql(url, "UPDATE credentials SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 255)");
    const status = await runInProcess(env, ["status", "--json"]);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).logins).toMatchObject([{ credentialSet: "default", provider: "github-oauth", state: "expiring-refreshable", expiresAt: new Date(expires).toISOString() }]);
    const token = await runInProcess(env, ["token", "github-oauth"]);
    expect(token.exitCode).toBe(1);
    expect(token.stderr).toMatch(/default:github-oauth does not decrypt/);
    expect(token.stdout + token.stderr).not.toContain(access);
  }, 120_000);
});
