import { rmSync } from "node:fs";
import { request } from "node:http";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome } from "../helpers/env.js";
import { listeningService } from "../helpers/service.js";

/**
 * Issue 18 finding 5: a signed admin request is good for one daemon run and a few seconds only.
 * The attacker here sits where finding 3 put it: between a client and the daemon, relaying and
 * keeping a copy of every byte, then replaying what it kept.
 */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A relay socket in front of `target` that records everything clients send through it. */
async function recordingRelay(dir: string, target: string): Promise<{ socketPath: string; seen: () => string }> {
  const socketPath = join(dir, "relay.sock");
  const chunks: Buffer[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(target);
    client.on("data", (d: Buffer) => chunks.push(d));
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => rmSync(socketPath, { force: true }));
  return { socketPath, seen: () => Buffer.concat(chunks).toString("utf8") };
}

/** The attacker's replay: its own connection (no client's keep-alive pool), the captured header and body verbatim. */
function replay(socketPath: string, path: string, body: string, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { "content-type": "application/json", authorization };
    const req = request({ socketPath, path, method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function home() {
  const t = tempHome("authctl-replay-");
  const now = { t: Date.now() };
  const env = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: canary("pass") };
  const context = new Authctl({ env, home: t.home, clock: { now: () => now.t } });
  storeApiKey("anthropic", canary("sk-ant-"), { context, credentialSet: "ci" });
  cleanups.push(t.cleanup, () => context.close());
  const adminKey = context.store().subkey(ADMIN_KEY_LABEL);
  const start = async () => {
    const up = await listeningService(context);
    cleanups.push(up.stop);
    return up;
  };
  return { ...t, context, now, adminKey, start };
}

describe("signed admin requests", () => {
  it("a captured signed admin request replayed against the restarted daemon is refused", async () => {
    const h = await home();
    const first = await h.start();
    const relay = await recordingRelay(join(h.home, ".."), first.socketPath);
    const admin = new ServiceClient({ socketPath: relay.socketPath, adminKey: h.adminKey, now: () => h.now.t });
    expect((await admin.list("ci")).map((c) => c.provider)).toEqual(["anthropic"]);
    const authorization = /authorization: (AuthctlAdmin \S+)/i.exec(relay.seen())?.[1];
    if (!authorization) throw new Error(`no signed request went through the relay: ${relay.seen().slice(0, 200)}`);
    const body = JSON.stringify({ credentialSet: "ci" });
    // Within the same run the nonce is spent.
    expect((await replay(first.socketPath, "/v1/list", body, authorization)).status).toBe(401);
    const firstRun = (await new ServiceClient({ socketPath: first.socketPath }).health()) as { daemonId?: string };
    await first.stop();

    const second = await h.start();
    expect(second.socketPath).toBe(first.socketPath);
    const replayed = await replay(second.socketPath, "/v1/list", body, authorization);
    expect(replayed.status).toBe(401);
    expect(replayed.body).toMatch(/another daemon run|does not match/);
    expect(replayed.body).not.toContain("anthropic\",\"kind");
    const secondRun = (await new ServiceClient({ socketPath: second.socketPath }).health()) as { daemonId?: string };
    expect(secondRun.daemonId).toMatch(/^[a-f0-9]{32}$/);
    expect(secondRun.daemonId).not.toBe(firstRun.daemonId);
    // The owner's client still works against the new run: it learns the new id from health.
    const again = new ServiceClient({ socketPath: second.socketPath, adminKey: h.adminKey, now: () => h.now.t });
    expect((await again.list("ci")).map((c) => c.provider)).toEqual(["anthropic"]);
    const refused = readAudit(auditPath(h.home)).filter((e) => e.op === "list" && !e.allowed);
    expect(refused.map((e) => e.actor)).toEqual(["anonymous", "anonymous"]);
  });

  it("refuses a timestamp more than a few seconds in the future, and one older than the replay window", async () => {
    const h = await home();
    const { socketPath } = await h.start();
    const ahead = new ServiceClient({ socketPath, adminKey: h.adminKey, now: () => h.now.t + 10_000 });
    await expect(ahead.list("ci")).rejects.toThrow(/in the future/);
    const slightlyAhead = new ServiceClient({ socketPath, adminKey: h.adminKey, now: () => h.now.t + 2_000 });
    await expect(slightlyAhead.list("ci")).resolves.toHaveLength(1);
    const behind = new ServiceClient({ socketPath, adminKey: h.adminKey, now: () => h.now.t - 45_000 });
    await expect(behind.list("ci")).rejects.toThrow(/too old/);
  });
});
