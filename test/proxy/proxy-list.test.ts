import { createServer, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { authctl, canary, tempHome } from "../helpers/env.js";

// The built CLI against a real store and a real daemon: sessions are found again, the daemon's
// address is asked of the daemon, and no phantom or secret is ever printed.

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function home() {
  const t = tempHome("authctl-plist-");
  cleanups.push(t.cleanup);
  const key = canary("sk-ant-");
  expect((await authctl(t.home, ["key", "anthropic", "--stdin"], { input: key })).exitCode).toBe(0);
  return { ...t, key };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

const phantomsIn = (stdout: string): string[] => Object.values((JSON.parse(stdout) as { env: Record<string, string> }).env).filter((v) => v.startsWith("authctl-phantom-"));

describe("proxy list", () => {
  it("shows the live sessions (id, providers, created, expiry, policy), --all the ended ones too, never a phantom or a secret", async () => {
    const h = await home();
    const client = (session: string, extra: string[] = []) => authctl(h.home, ["proxy", "client", "anthropic", "--session", session, "--base-url", "http://127.0.0.1:9", "--json", ...extra]);
    const one = await client("box-1", ["--methods", "GET", "--max-requests", "5"]);
    expect(one.exitCode, one.stderr).toBe(0);
    const two = await client("box-2");
    expect(two.exitCode, two.stderr).toBe(0);
    const phantoms = [...phantomsIn(one.stdout), ...phantomsIn(two.stdout)];
    expect(phantoms.length).toBeGreaterThan(0);
    expect((await authctl(h.home, ["proxy", "revoke", "box-2"])).exitCode).toBe(0);

    const live = await authctl(h.home, ["proxy", "list", "--json"]);
    expect(live.exitCode, live.stderr).toBe(0);
    const sessions = (JSON.parse(live.stdout) as { sessions: Array<Record<string, unknown>> }).sessions;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ sessionId: "box-1", providers: ["anthropic"], credentialSets: ["default"], state: "live", policies: { anthropic: { methods: ["GET"], maxRequests: 5 } } });
    const created = Date.parse(String(sessions[0]!.createdAt));
    expect(String(sessions[0]!.createdAt)).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(Date.parse(String(sessions[0]!.expiresAt))).toBeGreaterThan(created);

    const all = JSON.parse((await authctl(h.home, ["proxy", "list", "--all", "--json"])).stdout) as { sessions: Array<{ sessionId: string; state: string }> };
    expect(all.sessions.map((s) => [s.sessionId, s.state]).sort()).toEqual([
      ["box-1", "live"],
      ["box-2", "revoked"],
    ]);

    const tableOut = await authctl(h.home, ["proxy", "list", "--all"]);
    expect(tableOut.exitCode).toBe(0);
    expect(tableOut.stdout).toMatch(/box-1\s+anthropic\s/);
    expect(tableOut.stdout).toContain("GET");
    expect(tableOut.stdout).toContain("revoked");
    for (const out of [live, tableOut]) {
      for (const secret of [h.key, ...phantoms]) expect(`${out.stdout}${out.stderr}`).not.toContain(secret);
    }
  });
});

describe("proxy client without --base-url", () => {
  it("asks the running daemon for its proxy URL, and says how to start one when none runs", async () => {
    const h = await home();
    const none = await authctl(h.home, ["proxy", "client", "anthropic", "--session", "s1", "--json"]);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain("authctl serve --detach --proxy-port");
    expect(none.stderr).toContain("--base-url");

    const port = await freePort();
    expect((await authctl(h.home, ["serve", "--detach", "--proxy-port", String(port)])).exitCode).toBe(0);
    cleanups.push(() => authctl(h.home, ["serve", "stop"]));
    const r = await authctl(h.home, ["proxy", "client", "anthropic", "--session", "s1", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`http://127.0.0.1:${port}`);
    expect(`${r.stdout}${r.stderr}`).not.toContain(h.key);
  });
});
