import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getCredentials } from "../../src/access/credentials.js";
import { InvalidCredentialError } from "../../src/core/errors.js";
import { recordCredential, upgradePayload } from "../../src/credentials/index.js";
import { resolveGrants } from "../../src/run/grants.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { canary } from "../helpers/env.js";
import { useHostLoginFixture } from "../helpers/host-roster.js";

describe("credentials as typed values: older rows, recordCredential", () => {
  const host = useHostLoginFixture("up");

  it("rows written before payloads had `type` are read through upgradePayload, never lost, and deliver their secret", () => {
    using context = host.context();
    const [key, token, cmdKey] = [canary("sk_live_"), canary("gho_"), canary("sk_live_")];
    const store = context.store();
    // Written the old way: store.put straight, no `type` in the payload.
    store.put("default", "stripe", "api_key", { key }, { preview: "sk_…", expiresAt: null });
    store.put("default", "gh", "oauth", { files: { "hosts.yml": "github.com: {}\n" }, accessToken: token }, { preview: "gho_…", expiresAt: null });
    const file = join(host.home, "..", "key.txt");
    writeFileSync(file, cmdKey, { mode: 0o600 });
    store.put("old", "stripe", "command", { command: ["cat", file], timeout_ms: 5000 }, { preview: "$(cat)", expiresAt: null });

    expect(getCredentials("stripe", { context }).payload).toEqual({ type: "api_key", key });
    expect(getCredentials("gh", { context }).payload).toMatchObject({ type: "oauth", accessToken: token });
    expect(resolveGrants(context, { only: ["stripe", "gh"] }).grants.map((g) => g.secret)).toEqual([key, token]);
    expect(resolveGrants(context, { credentialSet: "old", only: ["stripe"] }).grants[0]!.secret).toBe(cmdKey);
    // The row itself is untouched until something writes it again.
    expect(store.get("default", "stripe")!.payload).toEqual({ key });
  });

  it("upgradePayload tells the host-login shapes apart by their fields", () => {
    expect(upgradePayload("device_flow", { clientId: "c", tenantId: "t", scopes: [], homeAccountId: "h", username: "u", tokenCache: "{}" })).toMatchObject({ type: "msal" });
    expect(upgradePayload("google_oauth", { clientId: "c", scopes: [], tokens: {} })).toMatchObject({ type: "google_oauth" });
    expect(upgradePayload("device_flow", { clientId: "c", access_token: "a" })).toMatchObject({ type: "oauth2" });
    expect(upgradePayload("oauth", { clientId: "c", access_token: "a" })).toMatchObject({ type: "oauth2", grant: "authorization_code" });
    const current = { type: "api_key", key: "k" };
    expect(upgradePayload("api_key", current)).toBe(current);
  });

  it("a row of no known shape is an error naming the row and what to do, and stays stored", () => {
    using context = host.context();
    context.store().put("default", "stripe", "api_key", { nope: 1 }, { preview: "****", expiresAt: null });
    expect(() => getCredentials("stripe", { context })).toThrow(InvalidCredentialError);
    expect(() => getCredentials("stripe", { context })).toThrow(/default:stripe: the api_key payload is of no known type .*store it again/);
    expect(context.store().info("default", "stripe")).toBeDefined();
    // `run` of the whole set leaves it out and says why; `run --only` it stops.
    expect(resolveGrants(context).skipped).toContainEqual({ provider: "stripe", reason: expect.stringMatching(/default:stripe: the api_key payload is of no known type/) });
    expect(() => resolveGrants(context, { only: ["stripe"] })).toThrow(InvalidCredentialError);
  });

  it("recordCredential validates, seals, audits and returns one summary; an invalid payload stores nothing", () => {
    using context = host.context();
    const token = canary("gho_");
    const summary = recordCredential(context, { credentialSet: "work", provider: "gh", payload: { type: "oauth", provider: "gh", files: {}, accessToken: token }, op: "captured" });
    expect(summary).toEqual({ provider: "gh", credentialSet: "work", kind: "oauth", type: "oauth", preview: expect.not.stringContaining(token.slice(8)), expiresAt: null });
    expect(context.store().get("work", "gh")!.payload).toMatchObject({ accessToken: token });
    expect(readAudit(auditPath(host.home)).map((e) => [e.op, e.target, e.kind])).toEqual([["captured", "work:gh", "oauth"]]);

    const bad = canary("sk_");
    expect(() => recordCredential(context, { credentialSet: "work", provider: "stripe", payload: { type: "api_key", key: "" } })).toThrow(/work:stripe: the api_key payload's key/);
    expect(() => recordCredential(context, { credentialSet: "work", provider: "stripe", payload: { type: "password", key: bad } })).toThrow(InvalidCredentialError);
    const error = (() => { try { recordCredential(context, { credentialSet: "work", provider: "stripe", payload: { type: "oauth2", access_token: bad } }); } catch (e) { return e as Error; } })();
    expect(error?.message).toMatch(/clientId/);
    expect(error?.message).not.toContain(bad);
    expect(context.store().info("work", "stripe")).toBeUndefined();
  });
});
