import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { AuditLog, auditPath, readAudit } from "../../src/store/audit.js";
import { canary, tempHome } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { listeningService } from "../helpers/service.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the service's audit lines, written a turn of the event loop at a time", () => {
  it("a clean stop writes every line still pending, in the order recorded", () => {
    const t = tempHome("authctl-audit-writes-");
    cleanups.push(t.cleanup);
    const path = join(t.home + "-audit.jsonl");
    const log = new AuditLog(path, Date.now, { groupWrites: true });
    for (let i = 0; i < 100; i++) log.record({ actor: "token:0123456789abcdef", op: "get", target: `ci:p${i}`, allowed: true });
    log.close(); // before the turn ends: nothing has been written yet
    expect(readAudit(path).map((e) => e.target)).toEqual(Array.from({ length: 100 }, (_, i) => `ci:p${i}`));
  });

  it("every answer's line is in the file by the time the answer arrives, under 64 concurrent clients", async () => {
    const t = tempHome("authctl-audit-writes-");
    const env = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_STORE_KEY: "file" };
    const context = new Authctl({ env, home: t.home });
    storeApiKey("anthropic", canary("sk-ant-"), { context, credentialSet: "ci" });
    const { socketPath, stop } = await listeningService(context);
    cleanups.push(t.cleanup, () => context.close(), stop);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
    const { token } = await admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });
    const client = new ServiceClient({ socketPath, token });
    let answered = 0;
    const seenAtAnswer: number[] = [];
    const reads = () => readAudit(auditPath(t.home)).filter((e) => e.op === "get").length;
    await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        (i % 4 === 0 ? client.get("ci", "stripe").catch(() => undefined) : client.get("ci", "anthropic")).then(() => {
          answered += 1;
          seenAtAnswer.push(reads() - answered);
        }),
      ),
    );
    expect(seenAtAnswer.every((extra) => extra >= 0)).toBe(true);
    await stop();
    const lines = readAudit(auditPath(t.home)).filter((e) => e.op === "get");
    expect(lines).toHaveLength(64);
    expect(lines.filter((e) => !e.allowed)).toHaveLength(16);
  });
});
