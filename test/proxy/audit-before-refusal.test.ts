import http from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, readAudit } from "../../src/store/audit.js";
import { useProxy } from "../helpers/proxyFixture.js";
import { canary, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";

const realKey = canary("sk-ant-");

/**
 * A refusal's audit line is in the log before the refusal is answered, as the service's own
 * answers are: an agent (or a test) holding the 403, 429 or 401 finds the line naming the rule.
 * Found by CI: the daemon wrote a refusal's line at the end of the event loop's turn, after the
 * answer had gone out, and a busy machine ran the client first (test/proxy/policy.test.ts, docker:
 * "an audit line naming session.rate for pol-rate: expected 0 to be greater than 0").
 */
describe("the proxy audits a refusal before it answers it", () => {
  const rig = useProxy("authctl-audit-order-", {
    upstream: () => fakeUpstream((_req, res) => void res.end("{}")),
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET", "POST"] } } } }),
  });

  // How many lines the proxy had audited when each of its answers was ended (the upstream's answers are left out).
  const auditedAtEnd: number[] = [];
  const end = http.ServerResponse.prototype.end;
  beforeAll(() => {
    http.ServerResponse.prototype.end = function (this: http.ServerResponse, ...args: unknown[]) {
      if (this.req?.headers["x-audit-order"]) auditedAtEnd.push(rig.audit.length);
      return (end as (...a: unknown[]) => http.ServerResponse).apply(this, args);
    } as typeof end;
  });
  afterAll(() => {
    http.ServerResponse.prototype.end = end;
  });

  function send(path: string, token: string, method = "GET", body?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${rig.url}${path}`, { method, agent: false, headers: { "x-api-key": token, "x-audit-order": "1", ...(body ? { "content-type": "application/json" } : {}) } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  it("a session's policy refusal (session.max_requests), an unknown phantom and a refused refresh exchange", async () => {
    const phantom = rig.phantom("anthropic", "audit-order", { policy: { maxRequests: 1 } });
    expect(await send("/v1/models", phantom)).toBe(200);
    const cases: Array<[string, string, string, string | undefined, number]> = [
      ["/v1/models", phantom, "GET", undefined, 403],
      ["/v1/models", "sk-ant-not-a-phantom", "GET", undefined, 401],
      ["/oauth/token", "x", "POST", JSON.stringify({ grant_type: "refresh_token", refresh_token: "not-a-phantom" }), 401],
    ];
    for (const [path, token, method, body, status] of cases) {
      auditedAtEnd.length = 0;
      const before = rig.audit.length;
      expect(await send(path, token, method, body)).toBe(status);
      expect(rig.audit.length, path).toBe(before + 1);
      expect(rig.audit.at(-1)!.status).toBe(status);
      // The line was given before the answer was ended.
      expect(auditedAtEnd, `${method} ${path}`).toEqual([before + 1]);
    }
  });
});

describe("an audit line recorded with `now`", () => {
  const t = tempHome("authctl-audit-now-");
  afterAll(t.cleanup);

  it("is in the file when record returns, after every line pending before it; without it, not before the turn ends", () => {
    const path = join(`${t.home}-audit.jsonl`);
    const log = new AuditLog(path, Date.now, { groupWrites: true });
    log.record({ actor: "proxy", op: "proxy", target: "ci:first", allowed: true }, { batch: true });
    log.record({ actor: "proxy", op: "proxy", target: "ci:refused", allowed: false }, { now: true });
    expect(readAudit(path).map((e) => e.target)).toEqual(["ci:first", "ci:refused"]);
    log.record({ actor: "proxy", op: "proxy", target: "ci:later", allowed: true });
    expect(readFileSync(path, "utf8")).not.toContain("ci:later");
    log.close();
    expect(readAudit(path).map((e) => e.target)).toEqual(["ci:first", "ci:refused", "ci:later"]);
  });
});
