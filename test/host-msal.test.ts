import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { InterruptedError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import type { MsalPayload } from "../src/logins/msal/app.js";
import { authctl, childEnv, REPO } from "./helpers/env.js";
import type { FakeIdentityOptions } from "./helpers/fake-identity.js";
import { msgraphAt, useHostLoginFixture } from "./helpers/host-roster.js";
import { runInProcess } from "./helpers/memory-io.js";

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("Microsoft Graph device code with real MSAL against a local fake authority", () => {
  const host = useHostLoginFixture("ms");
  const startServer = (options: FakeIdentityOptions = {}) => host.start((fake) => msgraphAt(fake.msalMetadata()), options);

  it("shows the code, polls through authorization_pending, stores the account and an encrypted MSAL cache", async () => {
    await startServer({ pendingPolls: 2 });
    using context = host.context();
    await using session = await prepareHostLogin("msgraph", { context });
    expect(session.prompt).toMatchObject({ kind: "device_code", userCode: "ABCD-EFGH" });
    const summary = await session.capture();
    expect(summary).toMatchObject({ provider: "msgraph", credentialSet: "default", kind: "device_flow", expiresAt: null });
    expect(host.server.devicePolls).toBe(3);
    // The poll is the only token request: its answer goes into MSAL's cache as it came, so its
    // refresh token is not redeemed (and rotated) once more. Each poll asks for client_info, as MSAL's did.
    expect(host.server.grants.map((g) => g.grant_type)).toEqual(Array(3).fill(DEVICE_CODE_GRANT));
    expect(host.server.grants.every((g) => g.params.client_info === "1")).toBe(true);
    const row = context.store().get<MsalPayload>("default", "msgraph")!;
    // The account as MSAL keys it when it polls: uid.utid from client_info.
    expect(row.payload).toMatchObject({ type: "msal", clientId: "client-1", tenantId: "tenant1", username: "dev@fake.test", homeAccountId: "oid-1.tenant1" });
    expect(row.payload.tokenCache).toContain(host.server.issued.find((t) => t.includes("rt"))!);
    context.close();
    // The cache (access and refresh tokens) never reaches the DB, WAL or any other file in plaintext.
    for (const file of readdirSync(host.home, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())) {
      expect(readFileSync(join(file.parentPath, file.name)).includes(host.prefix), file.name).toBe(false);
    }
  });

  it("acquireTokenSilent works in a new process from the stored cache and the refreshed tokens are written back", async () => {
    await startServer({ expiresIn: 1 }); // expires at once: the silent call must refresh
    {
      using context = host.context();
      await (await prepareHostLogin("msgraph", { context })).capture();
    }
    const result = await execa("node", [join(REPO, "test/workers/msal-silent.mjs"), join(REPO, "dist/index.js")], { env: childEnv(host.home), extendEnv: false });
    const printed = JSON.parse(result.stdout) as { username: string; tokenSha: string };
    expect(printed.username).toBe("dev@fake.test");
    expect(host.server.grants.map((g) => g.grant_type)).toContain("refresh_token");
    const newest = host.server.issued.filter((t) => t.includes("at")).at(-1)!;
    expect(printed.tokenSha).toBe(sha(newest));
    expect(result.stdout + result.stderr).not.toContain(host.prefix);
    using context = host.context();
    const rotated = host.server.issued.filter((t) => t.includes("rt")).at(-1)!;
    expect(context.store().get<MsalPayload>("default", "msgraph")!.payload.tokenCache).toContain(rotated);
  });

  it("an abort during the poll ends it with InterruptedError and stores nothing", async () => {
    await startServer({ pendingPolls: 1000 });
    using context = host.context();
    const controller = new AbortController();
    await using session = await prepareHostLogin("msgraph", { context, signal: controller.signal });
    setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 1200);
    await expect(session.capture({ signal: controller.signal })).rejects.toBeInstanceOf(InterruptedError);
    expect(context.store().info("default", "msgraph")).toBeUndefined();
  });

  it("`authctl auth msgraph` prints the code and URL, stores, and never prints a token; Ctrl-C exits 130", async () => {
    await startServer({ pendingPolls: 1 });
    const env = host.env();
    const ok = await runInProcess(env, ["auth", "msgraph", "--json"]);
    expect(ok.stderr).toContain("ABCD-EFGH");
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ provider: "msgraph", kind: "device_flow" });
    expect(ok.stdout + ok.stderr).not.toContain(host.prefix);
    for (const args of [["creds", "show", "default:msgraph"], ["creds", "show", "default:msgraph", "--json"], ["status"], ["creds", "list"]]) {
      const shown = await runInProcess(env, args);
      expect(shown.exitCode, shown.stderr).toBe(0);
      expect(shown.stdout + shown.stderr).not.toContain(host.prefix);
    }

    await startServer({ pendingPolls: 1000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 1200);
    const stopped = await runInProcess(env, ["auth", "msgraph", "--set", "other"], undefined, controller.signal);
    expect(stopped.exitCode).toBe(130);
    using context = host.context();
    expect(context.store().info("other", "msgraph")).toBeUndefined();
  });

  it("a real SIGINT to the binary while it polls: exit 130, nothing stored, no token printed", async () => {
    await startServer({ pendingPolls: 1000 });
    const child = authctl(host.home, ["auth", "msgraph"]);
    let printed = "";
    child.stderr!.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    for (let i = 0; i < 200 && host.server.devicePolls === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(host.server.devicePolls).toBeGreaterThan(0);
    child.kill("SIGINT");
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(printed).toContain("ABCD-EFGH");
    expect(printed).not.toContain(host.prefix);
    using context = host.context();
    expect(context.store().info("default", "msgraph")).toBeUndefined();
  });
});
