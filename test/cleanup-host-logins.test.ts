import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureError } from "../src/core/errors.js";
import type { GooglePayload } from "../src/credentials/google.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import { canary } from "./helpers/env.js";
import { googleAt, msgraphAt, useHostLoginFixture, writeUserRoster } from "./helpers/host-roster.js";

const FIFTY_MB = 50 * 1024 * 1024;

/**
 * A token endpoint as a test needs it: a normal answer (with an id token), or 50 MB. A Microsoft
 * device code is issued as usual first (`msgraphAt(metadata)` points msgraph at it).
 */
async function tokenEndpoint(answer: "tokens" | "huge", tokens: Record<string, unknown>) {
  let sent = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    if (req.url?.endsWith("/devicecode")) {
      const device = { device_code: "devcode-1", user_code: "ABCD-EFGH", verification_uri: `http://${req.headers.host}/device`, expires_in: 900, interval: 1 };
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(device));
    }
    if (answer === "tokens") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(tokens));
    res.writeHead(200, { "content-type": "application/json", "content-length": FIFTY_MB });
    const chunk = Buffer.alloc(256 * 1024, " ");
    const pump = () => {
      while (!res.destroyed && sent < FIFTY_MB) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = `http://${host}/tenant1/oauth2/v2.0`;
  return {
    base: `http://${host}`,
    host,
    metadata: { issuer: "https://login.fake.test/tenant1/v2.0", authorization_endpoint: `${root}/authorize`, token_endpoint: `${root}/token`, device_authorization_endpoint: `${root}/devicecode` },
    sent: () => sent,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** The browser's part: the authorization server approves at once and redirects to the loopback with a code. */
async function approve(authUrl: string): Promise<void> {
  const url = new URL(authUrl);
  const back = new URL(url.searchParams.get("redirect_uri")!);
  back.searchParams.set("code", "code-1");
  back.searchParams.set("state", url.searchParams.get("state")!);
  await fetch(back);
}

describe("host logins run through the one openid-client path", () => {
  const host = useHostLoginFixture("g");
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  /** A login whose token endpoint answers 50 MB: refused naming the host and the cap, little read, nothing stored. */
  async function refusedHuge(provider: "google" | "msgraph") {
    const endpoint = await tokenEndpoint("huge", {});
    close = endpoint.close;
    writeUserRoster(host.home, provider === "google" ? googleAt(endpoint.base) : msgraphAt(endpoint.metadata));
    using context = host.context();
    await using session = await prepareHostLogin(provider, { context, ...(provider === "google" ? { clientSecret: canary("secret") } : {}) });
    const captured = session.capture().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (session.prompt.kind === "auth_url") await approve(session.prompt.authUrl);
    const error = await captured;
    expect(error).toBeInstanceOf(CaptureError);
    expect((error as Error).message).toContain(endpoint.host);
    expect((error as Error).message).toMatch(/over 1048576 bytes/);
    expect(endpoint.sent()).toBeLessThan(FIFTY_MB / 2);
    expect(context.store().info("default", provider)).toBeUndefined();
  }

  it("its token endpoint answering 50 MB is refused naming the host and the cap, and nothing is stored", () => refusedHuge("google"), 30_000);

  it("Microsoft's device code too (auth msgraph): a 50 MB answer to its poll is refused the same way", () => refusedHuge("msgraph"), 30_000);

  it("the tokens are stored as google-auth-library stored them, id token included", async () => {
    const tokens = { access_token: canary("ya29."), refresh_token: canary("1//"), id_token: canary("eyJ"), expires_in: 3599, token_type: "Bearer", scope: "openid email" };
    const endpoint = await tokenEndpoint("tokens", tokens);
    close = endpoint.close;
    writeUserRoster(host.home, googleAt(endpoint.base));
    using context = host.context();
    await using session = await prepareHostLogin("google", { context, clientSecret: canary("secret") });
    const captured = session.capture();
    await approve((session.prompt as { authUrl: string }).authUrl);
    expect(await captured).toMatchObject({ provider: "google", credentialSet: "default" });
    const payload = context.store().get<GooglePayload>("default", "google")!.payload;
    expect(payload.tokens).toMatchObject({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, id_token: tokens.id_token, scope: "openid email" });
    // openid-client lower-cases the scheme (RFC 6750 leaves it case-insensitive).
    expect(payload.tokens.token_type?.toLowerCase()).toBe("bearer");
    expect(payload.tokens.expiry_date).toBeGreaterThan(Date.now());
  }, 30_000);
});
