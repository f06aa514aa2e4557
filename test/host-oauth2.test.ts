import { describe, expect, it } from "vitest";
import { InterruptedError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import type { OAuth2Payload } from "../src/logins/oauth2/client.js";
import { loadRoster } from "../src/roster/load.js";
import type { FakeIdentityOptions } from "./helpers/fake-identity.js";
import { oauth2At, useHostLoginFixture } from "./helpers/host-roster.js";
import { runInProcess } from "./helpers/memory-io.js";

describe("generic OAuth 2.0 from the roster with real openid-client against a local fake", () => {
  const host = useHostLoginFixture("o");
  const startServer = (flow: "oauth2_device" | "oauth2_pkce", options: FakeIdentityOptions = {}) => host.start((fake) => oauth2At(fake.base, flow), options);

  it("device code with GitHub's quirks: pending and slow_down answered with HTTP 200", async () => {
    await startServer("oauth2_device", { pendingAs200: true, slowDownFirst: true, pendingPolls: 1 });
    using context = host.context();
    await using session = await prepareHostLogin("fakehub", { context });
    expect(session.prompt).toMatchObject({ kind: "device_code", userCode: "ABCD-EFGH" });
    expect(await session.capture()).toMatchObject({ provider: "fakehub", kind: "device_flow", expiresAt: null });
    expect(host.server.devicePolls).toBe(3);
    const row = context.store().get<OAuth2Payload>("default", "fakehub")!;
    expect(row.payload).toMatchObject({ type: "oauth2", clientId: "hub-client" });
    expect(row.payload.refresh_token).toMatch(new RegExp(`^${host.prefix}rt`));
  }, 30_000);

  it("authorization code + PKCE through the loopback redirect", async () => {
    await startServer("oauth2_pkce");
    using context = host.context();
    await using session = await prepareHostLogin("fakehub", { context, scopes: ["repo", "user"] });
    const authUrl = new URL((session.prompt as { authUrl: string }).authUrl);
    expect(authUrl.searchParams.get("scope")).toBe("repo user");
    const captured = session.capture();
    await fetch(authUrl);
    expect(await captured).toMatchObject({ kind: "oauth" });
    expect(host.server.grants[0]!.params.code_verifier).toBeTruthy();
  });

  it("an abort mid-poll ends the poll at once and stores nothing", async () => {
    await startServer("oauth2_device", { pendingPolls: 1000 });
    using context = host.context();
    const controller = new AbortController();
    await using session = await prepareHostLogin("fakehub", { context });
    setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 300);
    await expect(session.capture({ signal: controller.signal })).rejects.toBeInstanceOf(InterruptedError);
    expect(context.store().info("default", "fakehub")).toBeUndefined();
  });

  it("`authctl auth` without a client id says which flag or roster field gives one", async () => {
    await startServer("oauth2_device");
    const env = host.env();
    const result = await runInProcess(env, ["auth", "github-oauth"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/github-oauth: no client id: pass --client-id/);
  });

  it("ships msgraph, google and github-oauth as host logins", () => {
    const roster = loadRoster();
    expect(roster.get("msgraph").host_flow?.flow).toBe("msal_device_code");
    expect(roster.get("google").host_flow?.flow).toBe("google_pkce");
    expect(roster.get("github-oauth").host_flow).toMatchObject({ flow: "oauth2_device", token_endpoint: "https://github.com/login/oauth/access_token" });
  });
});
