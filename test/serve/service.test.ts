import { execFile } from "node:child_process";
import { existsSync, lstatSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient, sendWire } from "../../src/access/client.js";
import { Authctl } from "../../src/context.js";
import { AccessDeniedError, DeliveryRefusedError, MissingCredentialsError, ServiceError } from "../../src/core/errors.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { runService, serviceLocation } from "../../src/serve/daemon.js";
import { canary, REPO, tempHome } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { listeningService } from "../helpers/service.js";
import { countOccurrences } from "../helpers/leaks.js";

const run = promisify(execFile);
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A passphrase store with two keys in set "ci", and its service listening on a temp socket. */
async function startService() {
  const t = tempHome("authctl-serve-");
  let now = Date.now();
  const passphrase = canary("pass");
  const env = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: passphrase };
  const context = new Authctl({ env, home: t.home, clock: { now: () => now } });
  const anthropic = canary("sk-ant-");
  const stripe = canary("sk_live_");
  storeApiKey("anthropic", anthropic, { context, credentialSet: "ci" });
  storeApiKey("stripe", stripe, { context, credentialSet: "ci" });
  storeApiKey("anthropic", canary("sk-ant-"), { context, credentialSet: "other" });
  const { socketPath, stopped, stop } = await listeningService(context);
  cleanups.push(() => t.cleanup(), () => context.close(), stop);
  const adminKey = context.store().subkey(ADMIN_KEY_LABEL);
  const admin = new ServiceClient({ socketPath, adminKey, now: () => now });
  return {
    ...t, env, context, socketPath, admin, anthropic, stripe, stop, stopped, passphrase,
    tick: (ms: number) => (now += ms),
    as: (token: string) => new ServiceClient({ socketPath, token }),
    audit: () => readAudit(auditPath(t.home)),
  };
}

describe("the local credential service", () => {
  it("answers health, lists masked, and hands a scoped token exactly its grant", async () => {
    const s = await startService();
    expect((await new ServiceClient({ socketPath: s.socketPath }).health()).ok).toBe(true);
    const { token } = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["list", "head", "get"], ttlSeconds: 60 });
    const caller = s.as(token);
    expect((await caller.get<{ key: string }>("ci", "anthropic")).payload.key).toBe(s.anthropic);
    expect((await caller.head("ci", "anthropic")).preview).not.toContain(s.anthropic);
    const listed = await caller.list();
    expect(listed.map((c) => c.provider)).toEqual(["anthropic"]); // stripe is in the set but not in the grant
    expect(JSON.stringify(listed)).not.toContain(s.anthropic);
  });

  it("denies the wrong set, provider, operation, an expired and a revoked token, and audits each", async () => {
    const s = await startService();
    const { token, id } = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["head"], ttlSeconds: 60 });
    const caller = s.as(token);
    await expect(caller.get("ci", "anthropic")).rejects.toThrow(/does not grant get/);
    await expect(caller.head("other", "anthropic")).rejects.toThrow(/does not grant set other/);
    await expect(caller.head("ci", "stripe")).rejects.toThrow(/does not grant ci:stripe/);
    await expect(caller.put({ credentialSet: "ci", provider: "stripe", kind: "api_key", payload: { key: "x" }, preview: "****" })).rejects.toThrow(/needs the store key/);
    await expect(caller.delete("ci", "anthropic")).rejects.toThrow(AccessDeniedError);
    await expect(caller.head("ci", "anthropic")).resolves.toMatchObject({ provider: "anthropic" });
    s.tick(61_000);
    await expect(caller.head("ci", "anthropic")).rejects.toThrow(/expired/);
    const second = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["head"], ttlSeconds: 60 });
    await s.admin.revoke(second.id);
    await expect(s.as(second.token).head("ci", "anthropic")).rejects.toThrow(/unknown or revoked/);
    await expect(s.as(token.slice(0, -1) + (token.endsWith("A") ? "B" : "A")).head("ci", "anthropic")).rejects.toThrow(/unknown or revoked/);
    const denied = s.audit().filter((e) => !e.allowed);
    expect(denied.map((e) => [e.actor, e.op, e.target])).toEqual([
      [`token:${id}`, "get", "ci:anthropic"],
      [`token:${id}`, "head", "other:anthropic"],
      [`token:${id}`, "head", "ci:stripe"],
      [`token:${id}`, "put", "ci:stripe"],
      [`token:${id}`, "delete", "ci:anthropic"],
      ["anonymous", "head", "ci:anthropic"],
      ["anonymous", "head", "ci:anthropic"],
      ["anonymous", "head", "ci:anthropic"],
    ]);
    const log = readFileSync(auditPath(s.home), "utf8");
    for (const secret of [s.anthropic, s.stripe, token, second.token, s.passphrase]) expect(countOccurrences(log, secret)).toBe(0);
    expect(statSync(auditPath(s.home)).mode & 0o777).toBe(0o600);
  });

  it("a token mints only narrower tokens, revokes only its own line, and revoking it revokes its children", async () => {
    const s = await startService();
    const parent = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic", "stripe"], ops: ["get", "mint"], ttlSeconds: 60 });
    const caller = s.as(parent.token);
    await expect(caller.mint({ credentialSet: "other", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 })).rejects.toThrow(/set other/);
    await expect(caller.mint({ credentialSet: "ci", providers: ["openai"], ops: ["get"], ttlSeconds: 60 })).rejects.toThrow(/providers it does not hold \(openai\)/);
    await expect(caller.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["list"], ttlSeconds: 60 })).rejects.toThrow(/operations it does not hold \(list\)/);
    const child = await caller.mint({ credentialSet: "ci", providers: ["stripe"], ops: ["get"], ttlSeconds: 3600 });
    expect(child.expiresAt).toBe(parent.expiresAt); // a longer TTL is cut to the parent's
    await expect(s.as(child.token).get("ci", "anthropic")).rejects.toThrow(/does not grant ci:anthropic/);
    expect((await s.as(child.token).get<{ key: string }>("ci", "stripe")).payload.key).toBe(s.stripe);
    await expect(s.as(child.token).mint({ credentialSet: "ci", providers: ["stripe"], ops: ["get"], ttlSeconds: 1 })).rejects.toThrow(/may not mint/);
    const unrelated = await s.admin.mint({ credentialSet: "ci", providers: ["stripe"], ops: ["get"], ttlSeconds: 60 });
    await expect(caller.revoke(unrelated.id)).rejects.toThrow(/only itself and the tokens it minted/);
    await caller.revoke(parent.id);
    await expect(s.as(child.token).get("ci", "stripe")).rejects.toThrow(/revoked/);
    await expect(s.as(unrelated.token).get("ci", "stripe")).resolves.toBeTruthy();
  });

  it("admin operations need a signature made with the store key; put and delete work with it", async () => {
    const s = await startService();
    const wrong = new ServiceClient({ socketPath: s.socketPath, adminKey: Buffer.alloc(32, 7) });
    await expect(wrong.mint({ credentialSet: "ci", providers: ["stripe"], ops: ["get"], ttlSeconds: 60 })).rejects.toThrow(/does not match this store's key/);
    const stale = new ServiceClient({ socketPath: s.socketPath, adminKey: s.context.store().subkey(ADMIN_KEY_LABEL), now: () => Date.now() - 3_600_000 });
    await expect(stale.list()).rejects.toThrow(/too old/);
    const key = canary("sk-or-");
    await s.admin.put({ credentialSet: "ci", provider: "openrouter", kind: "api_key", payload: { type: "api_key", key }, preview: "sk-…" });
    expect((await s.admin.get<{ key: string }>("ci", "openrouter")).payload.key).toBe(key);
    await s.admin.delete("ci", "openrouter");
    await expect(s.admin.get("ci", "openrouter")).rejects.toThrow(MissingCredentialsError);
    await expect(s.admin.get("ci", "openrouter")).rejects.toThrow(/run: authctl key openrouter --set ci/);
    expect(countOccurrences(readFileSync(auditPath(s.home), "utf8"), key)).toBe(0);
  });

  it("a replayed admin request is refused", async () => {
    const s = await startService();
    const body = JSON.stringify({});
    const { adminAuthorization } = await import("../../src/access/adminAuth.js");
    const { daemonId } = await new ServiceClient({ socketPath: s.socketPath }).health();
    const authorization = adminAuthorization(s.context.store().subkey(ADMIN_KEY_LABEL), daemonId, Date.now(), "/v1/list", body);
    expect((await sendWire({ socketPath: s.socketPath, path: "/v1/list", body, authorization })).status).toBe(200);
    expect((await sendWire({ socketPath: s.socketPath, path: "/v1/list", body, authorization })).status).toBe(401);
  });

  it("refuses a proxy_only credential (Claude subscription OAuth) even to admin", async () => {
    const s = await startService();
    const token = canary("sk-ant-oat01-");
    s.context.store().put("ci", "claude", "oauth", { type: "oauth", provider: "claude", files: {}, accessToken: token }, { preview: "sk-…" });
    await expect(s.admin.get("ci", "claude")).rejects.toThrow(DeliveryRefusedError);
    await expect(s.admin.get("ci", "claude")).rejects.toThrow(/proxy_only/);
    await expect(s.admin.head("ci", "claude")).resolves.toMatchObject({ kind: "oauth" });
  });

  it("answers malformed requests with 400 naming the field, unknown paths with 404", async () => {
    const s = await startService();
    const { token } = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });
    const send = (path: string, body?: string) => sendWire({ socketPath: s.socketPath, path, ...(body === undefined ? {} : { body }), authorization: `Bearer ${token}` });
    const notJson = await send("/v1/get", "{nope");
    expect([notJson.status, JSON.parse(notJson.body).error.code]).toEqual([400, "bad_request"]);
    const badName = await send("/v1/get", JSON.stringify({ credentialSet: "ci", provider: "../etc" }));
    expect(badName.status).toBe(400);
    expect(JSON.parse(badName.body).error.message).toMatch(/^provider: must be a provider name/);
    const extra = await send("/v1/get", JSON.stringify({ credentialSet: "ci", provider: "anthropic", more: 1 }));
    expect(extra.status).toBe(400);
    expect((await send("/v1/get")).status).toBe(400);
    expect((await send("/v1/nothing", "{}")).status).toBe(404);
  });

  it("keeps its socket 0600 in a 0700 dir, refuses a second daemon, replaces a stale socket, and cleans up", async () => {
    const s = await startService();
    const where = serviceLocation(s.context);
    expect(statSync(where.dir).mode & 0o777).toBe(0o700);
    expect(statSync(s.socketPath).mode & 0o777).toBe(0o600);
    await expect(runService({ context: s.context })).rejects.toThrow(/already running for this home \(pid \d+\)/);
    await s.stop();
    expect(existsSync(s.socketPath)).toBe(false);
    expect(existsSync(where.pidFile)).toBe(false);
    // A daemon killed with SIGKILL leaves its socket and pid file: the next one takes over.
    writeFileSync(where.pidFile, "999999\n");
    const leaveSocket = `require("node:net").createServer().listen(process.argv[1], () => process.kill(process.pid, "SIGKILL"))`;
    await promisify(execFile)(process.execPath, ["-e", leaveSocket, s.socketPath]).catch(() => {});
    expect(lstatSync(s.socketPath).isSocket()).toBe(true);
    const controller = new AbortController();
    let up!: () => void;
    const ready = new Promise<void>((r) => (up = r));
    const again = runService({ context: s.context, signal: controller.signal, onListening: () => up() });
    await ready;
    expect((await new ServiceClient({ socketPath: s.socketPath }).health()).ok).toBe(true);
    controller.abort();
    await again;
  });

  it("serves 64 concurrent clients", async () => {
    const s = await startService();
    const { token } = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic", "stripe"], ops: ["get"], ttlSeconds: 60 });
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => s.as(token).get<{ key: string }>("ci", i % 2 ? "stripe" : "anthropic")));
    expect(results.map((r) => r.payload.key)).toEqual(Array.from({ length: 64 }, (_, i) => (i % 2 ? s.stripe : s.anthropic)));
  });

  it("getCredentials in a child process with no store key goes through the socket, within its token", async () => {
    const s = await startService();
    const { token } = await s.admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });
    const script = `
      import { getCredentials } from ${JSON.stringify(join(REPO, "dist/index.js"))};
      const got = getCredentials("anthropic", { credentialSet: "ci" });
      const leaked = got.payload.key === process.env.EXPECTED ? "same" : "different";
      let denied = "";
      try { getCredentials("stripe", { credentialSet: "ci" }); } catch (e) { denied = e.name; }
      console.log(JSON.stringify({ leaked, denied }));`;
    const env = { ...baseEnv(), AUTHCTL_HOME: s.home, AUTHCTL_SOCKET: s.socketPath, AUTHCTL_TOKEN: token, EXPECTED: s.anthropic };
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { env });
    expect(JSON.parse(stdout)).toEqual({ leaked: "same", denied: "AccessDeniedError" });
    // Without the service variables the same child needs the passphrase it does not have.
    const direct = await run(process.execPath, ["--input-type=module", "-e", script], { env: { ...baseEnv(), AUTHCTL_HOME: s.home } }).catch((e) => e);
    expect(String(direct.stderr)).toMatch(/protected by a passphrase/);
  });

  it("a client of a service that is gone gets a ServiceError naming the socket", async () => {
    const s = await startService();
    await s.stop();
    await expect(new ServiceClient({ socketPath: s.socketPath }).health()).rejects.toThrow(ServiceError);
    await expect(new ServiceClient({ socketPath: s.socketPath }).health()).rejects.toThrow(/authctl serve/);
  });

  it("compares token hashes in constant time", () => {
    const source = readFileSync(join(REPO, "src/serve/tokens.ts"), "utf8");
    expect(source).toMatch(/timingSafeEqual\(a, b\)/);
    expect(source).toMatch(/!digestsEqual\(hash, record\.hash\)/);
    const server = readFileSync(join(REPO, "src/serve/server.ts"), "utf8");
    expect(server).toMatch(/digestsEqual\(expected, Buffer\.from\(signature, "hex"\)\)/);
  });
});
