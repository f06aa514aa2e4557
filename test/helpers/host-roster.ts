import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { stringify } from "yaml";
import { Authctl } from "../../src/context.js";
import type { Clock } from "../../src/core/clock.js";
import { prepareHostLogin } from "../../src/logins/authenticator.js";
import { baseEnv } from "./context.js";
import { canary, tempHome } from "./env.js";
import { FakeIdentityServer, type FakeIdentityOptions } from "./fake-identity.js";

/** Writes a user roster file `$AUTHCTL_HOME/agents/<name>.yaml`: how tests point host logins at a local fake server. */
export function writeUserRoster(home: string, entry: { name: string } & Record<string, unknown>): void {
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "agents", `${entry.name}.yaml`), stringify(entry));
}

export function msgraphAt(metadata: Record<string, string>) {
  return {
    name: "msgraph",
    label: "Microsoft Graph",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow: "msal_device_code", client_id: "client-1", tenant_id: "tenant1", scopes: ["User.Read"], authority_host: "login.fake.test", authority_metadata: metadata },
  };
}

export function googleAt(base: string) {
  return {
    name: "google",
    label: "Google",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow: "google_pkce", client_id: "gclient-1", client_secret_env: "FAKE_GOOGLE_SECRET", scopes: ["openid", "email"], auth_endpoint: `${base}/auth`, token_endpoint: `${base}/token` },
  };
}

export function oauth2At(base: string, flow: "oauth2_device" | "oauth2_pkce", name = "fakehub") {
  const endpoints =
    flow === "oauth2_device" ? { device_authorization_endpoint: `${base}/device/code` } : { authorization_endpoint: `${base}/auth` };
  return {
    name,
    label: "Fake Hub",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow, client_id: "hub-client", scopes: ["repo"], token_endpoint: `${base}/oauth/token`, ...endpoints },
  };
}

/**
 * The set-up every host-login test shares: a fresh home and canary token prefix per test, a fake
 * identity server started on demand with a user roster pointing at it, and both torn down after.
 */
export function useHostLoginFixture(tag: string) {
  let current: { home: string; cleanup: () => void; prefix: string; server?: FakeIdentityServer } | undefined;
  beforeEach(() => {
    current = { ...tempHome(), prefix: canary(tag) };
  });
  afterEach(async () => {
    await current?.server?.close();
    current?.cleanup();
  });
  const now = () => current ?? (() => { throw new Error("host-login fixture used outside a test"); })();
  return {
    get home() { return now().home; },
    get prefix() { return now().prefix; },
    get server() { return now().server!; },
    env(extra: Record<string, string> = {}): Record<string, string> {
      return { ...baseEnv(), AUTHCTL_HOME: now().home, NO_COLOR: "1", ...extra };
    },
    context(extra: Record<string, string> = {}, clock?: Clock): Authctl {
      return new Authctl({ env: this.env(extra), home: now().home, ...(clock ? { clock } : {}) });
    },
    /** Starts a fake server (closing one a test started before) and points the provider at it. */
    async start(entryFor: (server: FakeIdentityServer) => { name: string } & Record<string, unknown>, options: FakeIdentityOptions = {}): Promise<FakeIdentityServer> {
      const state = now();
      await state.server?.close();
      state.server = await FakeIdentityServer.start(state.prefix, options);
      writeUserRoster(state.home, entryFor(state.server));
      return state.server;
    },
  };
}

export type HostLoginFixture = ReturnType<typeof useHostLoginFixture>;

/**
 * `fakehub` as the git host git.fakehub.example (username `oauth2`), logged in for real with an
 * access token that lives one second; the server's later tokens live an hour. Resolves `lapseMs`
 * after the login, the token lapsed: whoever reads it next must refresh it, once.
 */
export async function captureLapsedGitLogin(host: HostLoginFixture, lapseMs = 1_500): Promise<FakeIdentityServer> {
  const server = await host.start((s) => ({ ...oauth2At(s.base, "oauth2_device"), git: { hosts: ["git.fakehub.example"], username: "oauth2" } }), { expiresIn: 1 });
  {
    using context = host.context();
    await using session = await prepareHostLogin("fakehub", { context });
    await session.capture();
  }
  server.options.expiresIn = 3600;
  await new Promise((r) => setTimeout(r, lapseMs));
  return server;
}
