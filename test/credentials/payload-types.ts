import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { storeCommandSource } from "../../src/access/storeCommandSource.js";
import { prepareHostLogin } from "../../src/logins/authenticator.js";
import { useCleanups } from "../helpers/cleanups.js";
import { canary } from "../helpers/env.js";
import { googleAt, type HostLoginFixture, msgraphAt, oauth2At, useHostLoginFixture } from "../helpers/host-roster.js";

/** A credential stored the way its login stores it, and what each delivery path must hand out. */
export interface Stored {
  provider: string;
  secret: string;
  envVar: string;
  authType: "api_key" | "oauth";
}

const accessTokens = (host: HostLoginFixture) => host.server.issued.filter((t) => t.startsWith(`${host.prefix}at`));
const delivery = (envVar: string) => ({ delivery: { oauth_env_var: envVar } });

/** One login per payload type. The host logins run for real against the local fake identity server. */
export const TYPES: Record<string, (host: HostLoginFixture, context: () => Authctl) => Promise<Stored>> = {
  async api_key(_host, context) {
    const key = canary("sk_live_");
    storeApiKey("stripe", key, { context: context() });
    return { provider: "stripe", secret: key, envVar: "STRIPE_API_KEY", authType: "api_key" };
  },
  async command(host, context) {
    const key = canary("sk_live_");
    const file = join(host.home, "..", "secret.txt");
    writeFileSync(file, key, { mode: 0o600 });
    storeCommandSource("stripe", ["cat", file], { context: context() });
    return { provider: "stripe", secret: key, envVar: "STRIPE_API_KEY", authType: "api_key" };
  },
  async container_login(host, context) {
    const token = canary("gho_");
    const files = { "hosts.yml": `github.com:\n  oauth_token: ${token}\n  user: dev\n` };
    context().store().put("default", "gh", "oauth", { type: "oauth", provider: "gh", files, accessToken: token, account: "dev" }, { preview: "gho_…", expiresAt: null });
    return { provider: "gh", secret: token, envVar: "GH_TOKEN", authType: "oauth" };
  },
  async oauth2_token_set(host, context) {
    await host.start((fake) => ({ ...oauth2At(fake.base, "oauth2_device", "github-oauth"), ...delivery("GITHUB_TOKEN") }));
    await using session = await prepareHostLogin("github-oauth", { context: context() });
    await session.capture();
    return { provider: "github-oauth", secret: accessTokens(host).at(-1)!, envVar: "GITHUB_TOKEN", authType: "oauth" };
  },
  async msal_cache(host, context) {
    await host.start((fake) => ({ ...msgraphAt(fake.msalMetadata()), ...delivery("GRAPH_TOKEN") }));
    await using session = await prepareHostLogin("msgraph", { context: context() });
    await session.capture();
    return { provider: "msgraph", secret: accessTokens(host).at(-1)!, envVar: "GRAPH_TOKEN", authType: "oauth" };
  },
  async google_tokens(host, context) {
    await host.start((fake) => ({ ...googleAt(fake.base), ...delivery("GOOGLE_TOKEN") }));
    await using session = await prepareHostLogin("google", { context: context(), clientSecret: canary("secret") });
    const captured = session.capture();
    await fetch((session.prompt as { authUrl: string }).authUrl);
    await captured;
    return { provider: "google", secret: accessTokens(host).at(-1)!, envVar: "GOOGLE_TOKEN", authType: "oauth" };
  },
};


/** A home per test (and a fake identity server on demand), and contexts on it closed after each test. */
export function useTypedFixture(tag: string) {
  const host = useHostLoginFixture(tag);
  const cleanups = useCleanups();
  const context = () => {
    const made = host.context();
    cleanups.push(() => made.close());
    return made;
  };
  return { host, context };
}
