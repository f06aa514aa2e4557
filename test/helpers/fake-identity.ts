import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local identity server on 127.0.0.1 (random port) speaking just enough of Microsoft's v2.0
 * endpoints, Google's and GitHub's for real MSAL, google-auth-library and openid-client:
 * device code with `authorization_pending` (and GitHub's 200-status variant and `slow_down`),
 * authorization code + PKCE (S256 checked), refresh (single-use refresh tokens rotated).
 */
export interface FakeIdentityOptions {
  /** Polls answered "pending" before the device code is approved. */
  pendingPolls?: number;
  /** Answer pending polls with HTTP 200 (GitHub) instead of 400. */
  pendingAs200?: boolean;
  /** Answer the first poll with slow_down. */
  slowDownFirst?: boolean;
  /** Access token lifetime in seconds. */
  expiresIn?: number;
  /** Omit refresh_token from refresh responses (Google). */
  refreshOmitsRefreshToken?: boolean;
}

export interface TokenGrant {
  grant_type: string;
  params: Record<string, string>;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

export class FakeIdentityServer {
  readonly grants: TokenGrant[] = [];
  readonly issued: string[] = [];
  /** Every request's path, in order: what a login asked before it failed. */
  readonly paths: string[] = [];
  private polls = 0;
  private readonly challenges = new Map<string, string>();
  private validRefresh = new Set<string>();
  private constructor(
    private readonly server: Server,
    readonly base: string,
    readonly options: FakeIdentityOptions,
    /** Prefix for every token issued, so a leak search finds it (`canary()`). */
    readonly tokenPrefix: string,
  ) {
    server.on("request", (req, res) => {
      void this.handle(req).then(
        ({ status, body, headers }) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(body === undefined ? "" : JSON.stringify(body)),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
  }

  static async start(tokenPrefix: string, options: FakeIdentityOptions = {}): Promise<FakeIdentityServer> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as AddressInfo;
    return new FakeIdentityServer(server, `http://127.0.0.1:${port}`, options, tokenPrefix);
  }

  /** OpenID configuration for MSAL's `authorityMetadata` (authority host `login.fake.test`). */
  msalMetadata(tenant = "tenant1"): Record<string, string> {
    const root = `${this.base}/${tenant}`;
    return {
      issuer: `https://login.fake.test/${tenant}/v2.0`,
      authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
      token_endpoint: `${root}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${root}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${root}/oauth2/v2.0/logout`,
      jwks_uri: `${root}/discovery/v2.0/keys`,
    };
  }

  private token(kind: string): string {
    const t = `${this.tokenPrefix}${kind}${randomBytes(6).toString("hex")}`;
    this.issued.push(t);
    return t;
  }

  /** Microsoft's answers carry an id token and client_info (MSAL builds the account from them); others do not. */
  private tokens(withRefresh: boolean, microsoft = false) {
    const refresh = this.token("rt");
    this.validRefresh.add(refresh);
    const idToken = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({
      aud: "client", iss: "https://login.fake.test/tenant1/v2.0", oid: "oid-1", sub: "sub-1", tid: "tenant1", preferred_username: "dev@fake.test", name: "Dev",
      iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600,
    })}.`;
    const account = microsoft ? { id_token: idToken, client_info: b64url({ uid: "oid-1", utid: "tenant1" }) } : {};
    return {
      token_type: "Bearer",
      access_token: this.token("at"),
      expires_in: this.options.expiresIn ?? 3600,
      ext_expires_in: this.options.expiresIn ?? 3600,
      scope: "User.Read openid profile offline_access",
      ...account,
      ...(withRefresh ? { refresh_token: refresh } : {}),
    };
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const url = new URL(req.url ?? "/", this.base);
    this.paths.push(url.pathname);
    let text = "";
    for await (const chunk of req) text += chunk;
    const params = Object.fromEntries(new URLSearchParams(text));
    if (url.pathname.endsWith("/devicecode") || url.pathname === "/device/code") {
      return {
        status: 200,
        body: { device_code: "devcode-1", user_code: "ABCD-EFGH", verification_uri: `${this.base}/device`, expires_in: 900, interval: 1, message: `To sign in, open ${this.base}/device and enter ABCD-EFGH` },
      };
    }
    if (url.pathname === "/auth") {
      // The "browser": approve at once and redirect back with a code bound to the PKCE challenge.
      const code = `code-${randomBytes(4).toString("hex")}`;
      this.challenges.set(code, url.searchParams.get("code_challenge") ?? "");
      const back = new URL(url.searchParams.get("redirect_uri")!);
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      return { status: 302, headers: { location: back.href } };
    }
    if (url.pathname.endsWith("/token")) {
      const microsoft = url.pathname.includes("/oauth2/v2.0/");
      this.grants.push({ grant_type: params.grant_type ?? "", params });
      if (params.grant_type === "urn:ietf:params:oauth:grant-type:device_code" || params.grant_type === "device_code") {
        this.polls++;
        if (this.options.slowDownFirst && this.polls === 1) return { status: this.options.pendingAs200 ? 200 : 400, body: { error: "slow_down", interval: 2 } };
        if (this.polls <= (this.options.pendingPolls ?? 0) + (this.options.slowDownFirst ? 1 : 0)) {
          return { status: this.options.pendingAs200 ? 200 : 400, body: { error: "authorization_pending", error_description: "pending" } };
        }
        return { status: 200, body: this.tokens(true, microsoft) };
      }
      if (params.grant_type === "authorization_code") {
        const challenge = this.challenges.get(params.code ?? "");
        const computed = createHash("sha256").update(params.code_verifier ?? "").digest("base64url");
        if (!challenge || challenge !== computed) return { status: 400, body: { error: "invalid_grant", error_description: "PKCE check failed" } };
        this.challenges.delete(params.code!);
        return { status: 200, body: this.tokens(true, microsoft) };
      }
      if (params.grant_type === "refresh_token") {
        // Google keeps its refresh token (and omits it from the answer); the others rotate it (single use).
        const known = this.options.refreshOmitsRefreshToken ? this.validRefresh.has(params.refresh_token ?? "") : this.validRefresh.delete(params.refresh_token ?? "");
        if (!known) return { status: 400, body: { error: "invalid_grant" } };
        return { status: 200, body: this.tokens(!this.options.refreshOmitsRefreshToken, microsoft) };
      }
      return { status: 400, body: { error: "unsupported_grant_type" } };
    }
    return { status: 404, body: { error: "not_found" } };
  }

  get devicePolls(): number {
    return this.polls;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
