import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 18 finding 4: a refresh phantom exchanged at the daemon's proxy (`/oauth/token`) never
 * yields phantoms that outlive the session's grant, and an API-key provider, which has no refresh
 * flow, gets a refusal (and an audit line) instead of a fresh pair.
 */
interface Reply {
  status: number;
  body: string;
}

function post(base: string, path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
beforeAll(async () => {
  upstream = await fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
});
afterAll(() => upstream?.close());

/** A daemon (service and proxy) over a home with a Claude OAuth login and an Anthropic key, on a clock the test moves. */
async function daemon() {
  const t = tempHome("authctl-grant-");
  const now = { t: Date.parse("2026-11-23T12:00:00Z") };
  const context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: canary("pass") }, home: t.home, clock: { now: () => now.t } });
  const realAccess = canary("access-");
  const realKey = canary("sk-ant-");
  // The real login stays valid for days: the proxy never needs to refresh it in these tests.
  context.store().put("work", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: realAccess, refreshToken: canary("refresh-") }, {
    preview: "…",
    expiresAt: new Date(now.t + 10 * 86_400_000),
  });
  context.store().put("work", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" });
  const paths = ["/v1"];
  const upstreams = {
    anthropic: { api_key: { base_url: upstream.url, allow_paths: paths } },
    claude: { oauth: { base_url: upstream.url, allow_paths: paths, refresh: { token_url: `${upstream.url}/oauth/token`, client_id: "test-client" } } },
  };
  const { started, stop } = await listeningService(context, { proxy: { port: 0, tls: false, upstreams } });
  cleanups.push(t.cleanup, () => context.close(), stop);
  const url = started.proxy.url!;
  const exchange = (refreshToken: string) => post(url, "/oauth/token", JSON.stringify({ grant_type: "refresh_token", client_id: "app_x", refresh_token: refreshToken }));
  const call = (accessToken: string) => post(url, "/v1/messages", "{}", { authorization: `Bearer ${accessToken}`, "content-type": "application/json" });
  return { ...t, context, now, url, exchange, call, realAccess, realKey, audit: () => readAudit(auditPath(t.home)) };
}

describe("refresh phantoms at the proxy's /oauth/token", () => {
  it("a refresh phantom exchanged again and again never yields phantoms past the session's grant", async () => {
    const d = await daemon();
    const grantMs = 120_000;
    const first = mintPhantoms("claude", { context: d.context, sessionId: "box-grant", credentialSet: "work", ttlMs: grantMs });
    const grantEnd = d.now.t + grantMs;
    let refresh = first.refreshToken;
    let access = first.accessToken;
    const statuses: number[] = [];
    const lateExpiries: number[] = [];
    for (let round = 0; round < 6; round++) {
      const reply = await d.exchange(refresh);
      statuses.push(reply.status);
      if (reply.status !== 200) break;
      const minted = JSON.parse(reply.body) as { access_token: string; refresh_token: string; expires_in: number };
      if (d.now.t + minted.expires_in * 1000 > grantEnd) lateExpiries.push(minted.expires_in);
      refresh = minted.refresh_token;
      access = minted.access_token;
      d.now.t += 50_000;
    }
    // Exchanged at +0 s, +50 s and +100 s; at +150 s the session's grant (+120 s) is over.
    expect(statuses).toEqual([200, 200, 200, 401]);
    expect(lateExpiries).toEqual([]);
    expect((await d.call(access)).status).toBe(401);
    const refused = d.audit().filter((e) => e.op === "proxy" && e.path === "/oauth/token" && !e.allowed);
    expect(refused.map((e) => e.status)).toEqual([401]);
    const text = JSON.stringify(d.audit());
    for (const secret of [d.realAccess, first.refreshToken, first.accessToken]) expect(text).not.toContain(secret);
  });

  it("the last minute of a grant stays the last minute: no exchange adds time to it", async () => {
    const d = await daemon();
    const first = mintPhantoms("claude", { context: d.context, sessionId: "box-late", credentialSet: "work", ttlMs: 30_000 });
    d.now.t += 20_000;
    const reply = await d.exchange(first.refreshToken);
    expect(reply.status).toBe(200);
    expect((JSON.parse(reply.body) as { expires_in: number }).expires_in).toBeLessThanOrEqual(10);
    d.now.t += 11_000;
    expect((await d.call((JSON.parse(reply.body) as { access_token: string }).access_token)).status).toBe(401);
  });

  it("an API-key provider's refresh phantom is refused with a 4xx and an audit line, and mints nothing", async () => {
    const d = await daemon();
    const session = mintPhantoms("anthropic", { context: d.context, sessionId: "box-key", credentialSet: "work" });
    const reply = await d.exchange(session.refreshToken);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ error: "unsupported_grant_type" });
    expect(reply.body).toMatch(/anthropic/);
    expect(reply.body).not.toContain("authctl-phantom-");
    expect(reply.body).not.toContain(d.realKey);
    const lines = d.audit().filter((e) => e.op === "proxy" && e.path === "/oauth/token");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ actor: "session:box-key", target: "work:anthropic", allowed: false, status: 400 });
    expect(lines[0]!.reason).toMatch(/anthropic/);
    // The session's own access phantom still works: the refusal ends nothing it was granted.
    expect((await d.call(session.accessToken)).status).toBe(200);
  });
});
