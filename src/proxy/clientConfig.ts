import { contextFrom, type WithContext } from "../context.js";
import { UsageError } from "../core/errors.js";
import { DEFAULT_SET } from "../core/names.js";
import type { OAuthPayload } from "../logins/container/capture/index.js";
import { mintPhantoms, type MintedPhantoms } from "./phantoms.js";
import { modeOf, type ProxyMode } from "./routes.js";

/** What a client process or container needs to reach the proxy: env vars and files in its config dir. */
export interface ProxyClientConfig {
  provider: string;
  mode: ProxyMode;
  env: Record<string, string>;
  /** Absolute paths inside the container (the roster's `container_mount` for the vendor's config dir) → file text. */
  files: Record<string, string>;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Codex reads claims from the id_token but never checks a signature: three non-empty parts suffice. */
function phantomIdToken(accountId: string | undefined): string {
  const claims = { "https://api.openai.com/auth": { chatgpt_account_id: accountId ?? "authctl-proxy", chatgpt_plan_type: "pro" } };
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.${b64("authctl-phantom")}`;
}

type Builder = (base: string, phantoms: MintedPhantoms, configDir: string, account?: string) => Omit<ProxyClientConfig, "provider" | "mode">;

/** PROXY.md's table: how each vendor CLI is pointed at a proxy with phantom credentials. */
const BUILDERS: Record<string, Partial<Record<ProxyMode, Builder>>> = {
  claude: {
    api_key: (base, p) => ({ env: { ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: p.accessToken }, files: {} }),
    // expiresAt null: the CLI never tries to refresh; the proxy does.
    oauth: (base, p, dir) => ({
      env: { ANTHROPIC_BASE_URL: base },
      files: {
        [`${dir}/.credentials.json`]: JSON.stringify({
          claudeAiOauth: { accessToken: p.accessToken, refreshToken: "", expiresAt: null, scopes: ["user:inference"], subscriptionType: "max" },
        }),
      },
    }),
  },
  anthropic: { api_key: (base, p) => ({ env: { ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: p.accessToken }, files: {} }) },
  codex: {
    api_key: (base, p, dir) => ({
      env: { CODEX_API_KEY: p.accessToken },
      files: { [`${dir}/config.toml`]: `openai_base_url = "${base}/v1"\n` },
    }),
    oauth: (base, p, dir, account) => ({
      env: { CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${base}/oauth/token` },
      files: {
        [`${dir}/config.toml`]: `openai_base_url = "${base}/backend-api/codex"\nchatgpt_base_url = "${base}/backend-api/"\ncli_auth_credentials_store = "file"\n`,
        [`${dir}/auth.json`]: JSON.stringify({
          auth_mode: "chatgpt",
          OPENAI_API_KEY: null,
          tokens: { id_token: phantomIdToken(account), access_token: p.accessToken, refresh_token: p.refreshToken, account_id: account ?? "authctl-proxy" },
          last_refresh: "2099-01-01T00:00:00Z",
        }),
      },
    }),
  },
  openai: { api_key: (base, p) => ({ env: { OPENAI_BASE_URL: `${base}/v1`, OPENAI_API_KEY: p.accessToken }, files: {} }) },
  gemini: {
    // gemini-cli 0.61 takes GOOGLE_GEMINI_BASE_URL alone as its "gateway" auth type and then refuses
    // it ("Invalid auth method selected."): the settings pin API-key auth, the base URL still applies.
    api_key: (base, p, dir) => ({
      env: { GOOGLE_GEMINI_BASE_URL: base, GEMINI_API_KEY: p.accessToken },
      files: { [`${dir}/settings.json`]: JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }) },
    }),
  },
};

export interface ProxyClientOptions extends WithContext {
  sessionId: string;
  credentialSet?: string;
  /** How the client reaches the proxy, e.g. `http://127.0.0.1:P` (in a container: its forwarder). */
  baseUrl: string;
  /** The vendor's config dir as the client sees it; defaults to the roster's `oauth.container_mount`. */
  configDir?: string;
  ttlMs?: number;
}

/**
 * The checks before anything is minted: a known provider (else the roster's error naming it), a
 * credential stored in the set, and client settings for its kind.
 */
export function proxyClientFor(provider: string, options: WithContext & { credentialSet?: string | undefined }) {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const credentialSet = options.credentialSet ?? DEFAULT_SET;
  const stored = context.store().get<OAuthPayload>(credentialSet, entry.name);
  const mode = stored ? modeOf(stored.kind) : undefined;
  const build = mode && BUILDERS[entry.name]?.[mode];
  if (!stored || !mode || !build) {
    throw new UsageError(
      `${entry.name}: ${stored ? `no proxy client settings for its ${stored.kind} credential` : `nothing stored in ${credentialSet}`}; proxy clients exist for ${Object.keys(BUILDERS).join(", ")}`,
    );
  }
  return { entry, stored, mode, build };
}

/**
 * Mints phantoms for a session and builds what its client needs to use them through the proxy.
 * The real credential never leaves the store: only phantoms and URLs are in the result.
 */
export function proxyClientConfig(provider: string, options: ProxyClientOptions): ProxyClientConfig & { phantoms: MintedPhantoms } {
  const context = contextFrom(options);
  const { entry, stored, mode, build } = proxyClientFor(provider, { context, credentialSet: options.credentialSet });
  const phantoms = mintPhantoms(entry.name, { ...options, context });
  const configDir = options.configDir ?? entry.oauth?.container_mount ?? `/home/dev/.${entry.name}`;
  const account = mode === "oauth" ? stored!.payload.account : undefined;
  return { provider: entry.name, mode, phantoms, ...build(options.baseUrl.replace(/\/+$/, ""), phantoms, configDir, account) };
}
