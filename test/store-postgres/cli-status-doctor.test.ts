import { beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { authctl, canary, childEnv } from "../helpers/env.js";
import { usePostgres } from "../helpers/postgres.js";

interface DoctorJson {
  ok: boolean;
  store: { backend: string; label: string };
  checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }>;
}

/**
 * `status` and `doctor` name the store they describe: on a PostgreSQL store (AUTHCTL_STORE_URL) its
 * label (host:port/database, the keyring account of its key), never the password; the home's
 * credentials.db otherwise. Doctor checks that the database answers and says what to do when not.
 */
describe("status and doctor on a PostgreSQL store", () => {
  const pg = usePostgres("authctl-pgstatus-", "authctl-pgstatus-sqlite-");
  const [home, sqliteHome] = pg.homes as [string, string];
  const printed: string[] = [];
  let url = "";
  let label = "";

  beforeAll(async () => {
    if (!pg.cluster) return;
    url = await pg.cluster.database("statusdb");
    label = `PostgreSQL store 127.0.0.1:${pg.cluster.port}/statusdb`;
    const stored = await authctl(home, ["key", "openai", "--stdin"], { input: canary("sk-proj-"), extraEnv: { AUTHCTL_STORE_URL: url }, timeout: 30_000 });
    expect(stored.exitCode, String(stored.stderr)).toBe(0);
  }, 90_000);

  const run = async (home: string, args: string[], env: Record<string, string> = { AUTHCTL_STORE_URL: url }) => {
    const r = await authctl(home, args, { extraEnv: env, timeout: 60_000 });
    printed.push(String(r.stdout), String(r.stderr));
    return r;
  };

  it("status --json: store {backend: postgresql, label}", async ({ skip }) => {
    if (!pg.cluster) return skip();
    const r = await run(home, ["status", "--json"]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const status = JSON.parse(String(r.stdout)) as { store: unknown; logins: Array<{ provider: string }> };
    expect(status.store).toEqual({ backend: "postgresql", label });
    expect(status.logins.map((l) => l.provider)).toEqual(["openai"]);
    const human = await run(home, ["status"]);
    expect(human.stdout).toContain(label);
  });

  it("status --json on the home's SQLite store: store {backend: sqlite, label: its file}", async ({ skip }) => {
    if (!pg.cluster) return skip();
    await run(sqliteHome, ["key", "openai", "--stdin"], {});
    const r = await run(sqliteHome, ["status", "--json"], {});
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect((JSON.parse(String(r.stdout)) as { store: unknown }).store).toEqual({ backend: "sqlite", label: `${sqliteHome}/credentials.db` });
  });

  it("doctor names the PostgreSQL store (not a credentials.db in the home), finds it answering, its schema version and who listens", async ({ skip }) => {
    if (!pg.cluster) return skip();
    // Another process on the store (as a daemon would be): its listener is counted with doctor's own.
    const other = CredentialStore.open({ home: home, env: childEnv(home, { AUTHCTL_STORE_URL: url }) });
    other.list();
    let r: Awaited<ReturnType<typeof run>>;
    try {
      const deadline = Date.now() + 10_000;
      do r = await run(home, ["doctor", "--json"]);
      while (!/ 2 authctl process/.test(String(r.stdout)) && Date.now() < deadline);
    } finally {
      other.close();
    }
    const doctor = JSON.parse(String(r.stdout)) as DoctorJson;
    expect(doctor.store).toEqual({ backend: "postgresql", label });
    const store = doctor.checks.find((c) => c.name === "store")!;
    expect(store, JSON.stringify(doctor.checks)).toMatchObject({ ok: true });
    expect(store.detail).toContain(label);
    expect(store.detail).not.toContain("credentials.db");
    expect(store.detail).toMatch(/schema version \d+; 2 authctl process\(es\) listening for changes, this one included/);
  });

  it("doctor with the database stopped: the store check fails naming it, with what to do; status exits 1 naming it", async ({ skip }) => {
    if (!pg.cluster) return skip();
    await pg.cluster.halt();
    try {
      const r = await run(home, ["doctor", "--json"]);
      expect(r.exitCode).toBe(1);
      const doctor = JSON.parse(String(r.stdout)) as DoctorJson;
      expect(doctor.store).toEqual({ backend: "postgresql", label });
      const store = doctor.checks.find((c) => c.name === "store")!;
      expect(store, JSON.stringify(doctor.checks)).toMatchObject({ ok: false });
      expect(store.detail).toContain(`${label} cannot be reached`);
      expect(store.fix).toMatch(/PostgreSQL is running|AUTHCTL_STORE_URL/);
      const status = await run(home, ["status"]);
      expect(status.exitCode).toBe(1);
      expect(String(status.stderr)).toContain(`${label} cannot be reached`);
    } finally {
      await pg.cluster.start();
    }
  }, 90_000);

  it("never prints the database password", ({ skip }) => {
    if (!pg.cluster) return skip();
    expect(printed.join("\n")).not.toContain(new URL(url).password);
  });
});
