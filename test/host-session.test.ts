import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Authctl } from "../src/context.js";
import type { GooglePayload } from "../src/logins/google/pkce.js";
import { buildMsalApp, type MsalPayload } from "../src/logins/msal/app.js";
import { baseEnv } from "./helpers/context.js";
import { authctl, canary, tempHome } from "./helpers/env.js";
import { FakeIdentityServer } from "./helpers/fake-identity.js";
import { googleAt, msgraphAt, oauth2At, writeUserRoster } from "./helpers/host-roster.js";
import { runInProcess } from "./helpers/memory-io.js";

/** Frontends in any language: `session prepare --json` prints the code or URL, `session capture <id>` (another process) finishes. */
describe("host logins through `authctl session prepare | capture | cleanup`", () => {
  let home: string;
  let cleanup: () => void;
  let server: FakeIdentityServer;
  let prefix: string;
  let env: Record<string, string>;
  const contextFor = () => new Authctl({ env, home });

  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    prefix = canary("ss");
    env = { ...baseEnv(), AUTHCTL_HOME: home, NO_COLOR: "1" };
  });
  afterEach(async () => {
    await server?.close();
    cleanup();
  });

  it("Microsoft device code: prepare prints the code; capture in a new process polls, stores MSAL's cache; buildMsalApp works", async () => {
    server = await FakeIdentityServer.start(prefix, { pendingPolls: 1 });
    writeUserRoster(home, msgraphAt(server.msalMetadata()));
    const prepared = await runInProcess(env, ["session", "prepare", "msgraph", "--json"]);
    expect(prepared.exitCode, String(prepared.stderr)).toBe(0);
    const json = JSON.parse(prepared.stdout) as { id: string; method: string; kind: string; userCode: string; verificationUri: string };
    expect(json).toMatchObject({ method: "msal_device_code", kind: "device_code", userCode: "ABCD-EFGH" });
    expect(server.devicePolls).toBe(0);

    const captured = await authctl(home, ["session", "capture", json.id, "--json"]);
    expect(captured.exitCode, String(captured.stderr)).toBe(0);
    expect(JSON.parse(String(captured.stdout))).toMatchObject({ provider: "msgraph", kind: "device_flow" });
    expect(String(captured.stdout) + String(captured.stderr) + prepared.stdout + prepared.stderr).not.toContain(prefix);
    expect(existsSync(join(home, "sessions", `${json.id}.host.json`))).toBe(false);

    // One path with `auth msgraph`: the poll's answer is MSAL's cache as it came, its refresh token not redeemed again.
    expect(server.grants.map((g) => g.grant_type)).toEqual(["urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:device_code"]);
    using context = contextFor();
    expect(context.store().get<MsalPayload>("default", "msgraph")!.payload.tokenCache).toContain(server.issued.find((t) => t.includes("rt"))!);
    const app = await buildMsalApp("default", { context });
    const [account] = await app.getTokenCache().getAllAccounts();
    expect(account?.username).toBe("dev@fake.test");
    const silent = await app.acquireTokenSilent({ account: account!, scopes: ["User.Read"] });
    expect(silent.accessToken.startsWith(prefix)).toBe(true);
  });

  it("generic PKCE: capture in a new process listens again on the auth URL's port and takes the browser's redirect", async () => {
    server = await FakeIdentityServer.start(prefix);
    writeUserRoster(home, oauth2At(server.base, "oauth2_pkce"));
    const prepared = await runInProcess(env, ["session", "prepare", "fakehub", "--json"]);
    const { id, authUrl } = JSON.parse(prepared.stdout) as { id: string; authUrl: string };
    const capture = authctl(home, ["session", "capture", id, "--json"]);
    let browsed = false;
    for (let i = 0; i < 200 && !browsed; i++) {
      browsed = await fetch(authUrl).then((r) => r.ok, () => false);
      if (!browsed) await new Promise((r) => setTimeout(r, 50));
    }
    const result = await capture;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(JSON.parse(String(result.stdout))).toMatchObject({ provider: "fakehub", kind: "oauth" });
  });

  it("Google: the redirect URL pasted on stdin finishes the login; a wrong state is refused and the session can be cleaned up", async () => {
    server = await FakeIdentityServer.start(prefix);
    writeUserRoster(home, googleAt(server.base));
    const secret = canary("gs");
    const extraEnv = { FAKE_GOOGLE_SECRET: secret };
    const prepare = async () => JSON.parse((await runInProcess({ ...env, ...extraEnv }, ["session", "prepare", "google", "--json"])).stdout) as { id: string; authUrl: string };
    const redirectOf = async (authUrl: string) => (await fetch(authUrl, { redirect: "manual" })).headers.get("location")!;

    const forged = await prepare();
    const wrong = new URL(await redirectOf(forged.authUrl));
    wrong.searchParams.set("state", "forged");
    const refused = await authctl(home, ["session", "capture", forged.id, "--redirect-url-stdin"], { input: wrong.href, extraEnv });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/state does not match/);
    const cleaned = await authctl(home, ["session", "cleanup", forged.id]);
    expect(cleaned.exitCode).toBe(0);
    expect(existsSync(join(home, "sessions", `${forged.id}.host.json`))).toBe(false);

    const good = await prepare();
    expect(new URL(good.authUrl).searchParams.get("access_type")).toBe("offline");
    const pasted = await redirectOf(good.authUrl);
    const stored = await authctl(home, ["session", "capture", good.id, "--redirect-url-stdin", "--json"], { input: pasted, extraEnv });
    expect(stored.exitCode, String(stored.stderr)).toBe(0);
    expect(server.grants.find((g) => g.grant_type === "authorization_code")!.params.client_secret).toBe(secret);
    expect(String(stored.stdout) + String(stored.stderr)).not.toContain(secret);
    using context = contextFor();
    expect(context.store().get<GooglePayload>("default", "google")!.payload).toMatchObject({ type: "google_oauth", clientId: "gclient-1", clientSecret: secret });
    const shown = await runInProcess(env, ["creds", "show", "default:google", "--json"]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).not.toContain(secret);
    expect(shown.stdout).not.toContain(prefix);
  });
});
