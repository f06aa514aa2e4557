import http from "node:http";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { mintPhantoms, revokeSession } from "../../src/proxy/phantoms.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "../helpers/context.js";
import { canary } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { useProxy } from "../helpers/proxyFixture.js";

function post(base: string, key: string, timeoutMs = 3000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/v1/messages`, { method: "POST", headers: { "x-api-key": key }, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end("{}");
  });
}

/**
 * The proxy keeps what it verified (phantom → grant, and the credential) until anything is
 * committed to the store: a request then needs no lookup under the store's write lock, and a
 * revocation, from any process, still counts from the very next request.
 */
describe("credential proxy: verified phantoms are kept, revocation stays immediate", () => {
  const key = canary("sk-ant-");
  const rig = useProxy("authctl-proxy-cache-", {
    busyTimeoutMs: 5_000,
    upstream: () => fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}")),
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"] } } } }),
  });

  it("answers a known phantom while another process holds the store's write lock", async () => {
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-locked" });
    expect(await post(rig.url, accessToken)).toBe(200);
    const other = new Database(rig.store.path);
    try {
      other.exec("BEGIN IMMEDIATE"); // a long write elsewhere (an import, a migration)
      const started = Date.now();
      expect(await post(rig.url, accessToken)).toBe(200);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(rig.upstream.arrivals.at(-1)!.headers["x-api-key"]).toBe(key);
  });

  it("a revocation from another process counts from the next request", async () => {
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-revoke-elsewhere" });
    expect(await post(rig.url, accessToken)).toBe(200);
    const otherStore = CredentialStore.open({ home: rig.home, env: baseEnv() });
    try {
      expect(revokeSession("box-revoke-elsewhere", { context: new Authctl({ env: baseEnv(), store: otherStore }) })).toBe(2);
    } finally {
      otherStore.close();
    }
    expect(await post(rig.url, accessToken)).toBe(401);
  });

  it("a revocation through the proxy's own store counts from the next request, and so does a replaced key", async () => {
    const { accessToken } = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-revoke-here" });
    expect(await post(rig.url, accessToken)).toBe(200);
    const second = mintPhantoms("anthropic", { context: rig.context, sessionId: "box-rotate" });
    expect(await post(rig.url, second.accessToken)).toBe(200);
    revokeSession("box-revoke-here", { context: rig.context });
    expect(await post(rig.url, accessToken)).toBe(401);

    const rotated = canary("sk-ant-rotated-");
    rig.store.put("default", "anthropic", "api_key", { type: "api_key", key: rotated }, { preview: "sk-ant-…" });
    expect(await post(rig.url, second.accessToken)).toBe(200);
    expect(rig.upstream.arrivals.at(-1)!.headers["x-api-key"]).toBe(rotated);
  });
});
