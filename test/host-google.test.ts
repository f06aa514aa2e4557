import { describe, expect, it } from "vitest";
import { InterruptedError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import { buildGoogleCredentials, type GooglePayload } from "../src/logins/google/pkce.js";
import { canary, childEnv, CLI } from "./helpers/env.js";
import { runInPty } from "./helpers/pty.js";
import type { FakeIdentityOptions } from "./helpers/fake-identity.js";
import { googleAt, useHostLoginFixture } from "./helpers/host-roster.js";
import { memoryIO } from "./helpers/memory-io.js";
import { runCli } from "../src/cli/program.js";

describe("Google installed-app login (PKCE + state) with real google-auth-library against a local fake", () => {
  const host = useHostLoginFixture("g");
  const startServer = (options: FakeIdentityOptions = {}) => host.start((fake) => googleAt(fake.base), options);

  it("loopback: the browser's redirect reaches 127.0.0.1, the code is exchanged with the verifier, tokens are stored", async () => {
    await startServer();
    using context = host.context();
    await using session = await prepareHostLogin("google", { context, clientSecret: canary("secret") });
    expect(session.prompt.kind).toBe("auth_url");
    const authUrl = new URL((session.prompt as { authUrl: string }).authUrl);
    expect(authUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authUrl.searchParams.get("access_type")).toBe("offline");
    const captured = session.capture();
    const browser = await fetch(authUrl); // follows the redirect to the loopback listener
    expect(await browser.text()).toContain("you can close this tab");
    expect(await captured).toMatchObject({ provider: "google", kind: "google_oauth", expiresAt: null });
    const row = context.store().get<GooglePayload>("default", "google")!;
    expect(row.payload.tokens.refresh_token).toMatch(new RegExp(`^${host.prefix}rt`));
  });

  it("paste: the whole redirect URL from the address bar completes the login; a wrong state is refused and nothing is stored", async () => {
    await startServer();
    using context = host.context();
    const redirectOf = async (authUrl: string) => (await fetch(authUrl, { redirect: "manual" })).headers.get("location")!;

    await using forged = await prepareHostLogin("google", { context, credentialSet: "forged" });
    const url = new URL(await redirectOf((forged.prompt as { authUrl: string }).authUrl));
    url.searchParams.set("state", "not-the-state");
    await expect(forged.capture({ pastedRedirectUrl: Promise.resolve(url.href) })).rejects.toThrow(/state does not match/);
    expect(context.store().info("forged", "google")).toBeUndefined();

    await using session = await prepareHostLogin("google", { context });
    const pasted = await redirectOf((session.prompt as { authUrl: string }).authUrl);
    expect(await session.capture({ pastedRedirectUrl: Promise.resolve(`  ${pasted}\n`) })).toMatchObject({ kind: "google_oauth" });
  });

  it("buildGoogleCredentials refreshes from the stored refresh token and merges the answer (which omits it)", async () => {
    await startServer({ expiresIn: 1, refreshOmitsRefreshToken: true });
    {
      using context = host.context();
      await using session = await prepareHostLogin("google", { context });
      const captured = session.capture();
      await fetch((session.prompt as { authUrl: string }).authUrl);
      await captured;
    }
    using context = host.context();
    const original = context.store().get<GooglePayload>("default", "google")!.payload.tokens;
    const client = await buildGoogleCredentials("default", { context });
    const { token } = await client.getAccessToken();
    expect(host.server.grants.map((g) => g.grant_type)).toEqual(["authorization_code", "refresh_token"]);
    expect(token).toBe(host.server.issued.filter((t) => t.includes("at")).at(-1));
    await new Promise((r) => setImmediate(r));
    const stored = context.store().get<GooglePayload>("default", "google")!.payload.tokens;
    expect(stored.access_token).toBe(token);
    expect(stored.access_token).not.toBe(original.access_token);
    expect(stored.refresh_token).toBe(original.refresh_token);
  });

  it("an abort while waiting for the redirect stores nothing and closes the listener", async () => {
    await startServer();
    using context = host.context();
    const controller = new AbortController();
    const session = await prepareHostLogin("google", { context });
    setTimeout(() => controller.abort(new InterruptedError("SIGINT")), 200);
    await expect(session.capture({ signal: controller.signal })).rejects.toBeInstanceOf(InterruptedError);
    await session.cleanup();
    await expect(fetch(session.prompt.kind === "auth_url" ? session.prompt.redirectUri : "")).rejects.toThrow();
    expect(context.store().info("default", "google")).toBeUndefined();
  });

  it("`authctl auth google --client-secret-stdin` takes the secret from stdin only and never prints it or a token", async () => {
    await startServer();
    const secret = canary("gsecret");
    const env = host.env();
    const controller = new AbortController();
    // The "browser": follow the URL the command prints, once it is printed.
    const m = memoryIO(env, secret + "\n");
    const exit = runCli(["auth", "google", "--client-id", "cli-client", "--client-secret-stdin", "--json"], m.io, controller.signal);
    let authUrl: string | undefined;
    for (let i = 0; i < 100 && !authUrl; i++) {
      await new Promise((r) => setTimeout(r, 50));
      authUrl = /^(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m.exec(m.stderr())?.[1];
    }
    await fetch(authUrl!);
    expect(await exit).toBe(0);
    expect(JSON.parse(m.stdout())).toMatchObject({ provider: "google", kind: "google_oauth" });
    expect(new URL(authUrl!).searchParams.get("client_id")).toBe("cli-client");
    const exchange = host.server.grants.find((g) => g.grant_type === "authorization_code")!;
    expect(exchange.params.client_secret).toBe(secret);
    expect(m.stdout() + m.stderr()).not.toContain(secret);
    expect(m.stdout() + m.stderr()).not.toContain(host.prefix);
  });

  it("a wrong-state redirect at the loopback gets a 400 and the login keeps waiting for the right one", async () => {
    await startServer();
    using context = host.context();
    await using session = await prepareHostLogin("google", { context });
    const redirectUri = (session.prompt as { redirectUri: string }).redirectUri;
    const bad = await fetch(`${redirectUri}?code=x&state=wrong`);
    expect(bad.status).toBe(400);
    const captured = session.capture();
    await fetch((session.prompt as { authUrl: string }).authUrl);
    await expect(captured).resolves.toMatchObject({ kind: "google_oauth" });
  });

  it("on a terminal: the pasted redirect URL finishes `authctl auth google`; with the loopback instead it exits without waiting for a line", async () => {
    await startServer();
    const env = childEnv(host.home, { FAKE_GOOGLE_SECRET: canary("gs") });
    const authUrlIn = (text: string) => /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(text)![1]!;

    const pasting = runInPty(["node", CLI, "auth", "google"], env);
    await pasting.waitFor(/paste the whole URL/);
    const location = (await fetch(authUrlIn(pasting.output()), { redirect: "manual" })).headers.get("location")!;
    pasting.type(location + "\r");
    expect((await pasting.child).exitCode, pasting.output()).toBe(0);
    expect(pasting.output()).toMatch(/Stored default:google \(google_oauth /);

    const browsing = runInPty(["node", CLI, "auth", "google", "--set", "other"], env);
    await browsing.waitFor(/paste the whole URL/);
    await fetch(authUrlIn(browsing.output()));
    expect((await browsing.child).exitCode, browsing.output()).toBe(0);
    expect(browsing.output()).not.toContain(host.prefix);
  });
});
