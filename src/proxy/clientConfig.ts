import { contextFrom, type WithContext } from "../context.js";
import { MissingCredentialsError, UsageError } from "../core/errors.js";
import { DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { Provider } from "../roster/schema.js";
import { decodeJwtClaims, type OAuthPayload } from "../logins/container/capture/index.js";
import { gitClientEnv } from "./gitRoutes.js";
import { localCa } from "./localCa.js";
import { mintPhantoms, type MintedPhantoms } from "./phantoms.js";
import type { SessionPolicy } from "./policy.js";
import { modeOf, type ProxyMode } from "./routes.js";

/** What a client process or container needs to reach the proxy: env vars and files in its config dir. */
export interface ProxyClientConfig {
  provider: string;
  mode: ProxyMode;
  env: Record<string, string>;
  /** Absolute paths inside the container (the roster's `container_mount` for the vendor's config dir) → file text. */
  files: Record<string, string>;
  /** Set when the client reaches the proxy over TLS: where it expects the proxy's CA certificate. */
  caFile?: string;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Codex reads claims from the id_token but never checks a signature: three non-empty parts suffice. */
function phantomIdToken(accountId: string | undefined): string {
  const claims = { "https://api.openai.com/auth": { chatgpt_account_id: accountId ?? "authctl-proxy", chatgpt_plan_type: "pro" } };
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.${b64("authctl-phantom")}`;
}

interface BuildInput {
  /** The proxy as the client reaches it, plain HTTP. */
  base: string;
  /** The same address over TLS (every proxy listener answers both). */
  tlsBase: string;
  phantoms: MintedPhantoms;
  dir: string;
  /** The proxy's Unix socket as the client sees it, for clients that speak HTTP over one (gh). */
  socketPath?: string;
  /** A Codex login's ChatGPT workspace id. */
  chatgptAccountId?: string;
  /** The proxy's CA certificate as the client sees it; asking for it makes the result carry `caFile`. */
  caFile: () => string;
}

/**
 * The ChatGPT workspace id of a stored Codex login (not a secret): Codex sends it as
 * `chatgpt-account-id` and picks its workspace by it, so the phantom auth.json must carry the real
 * one. The login's `account` is its e-mail address, hence the stored auth.json.
 */
function chatgptAccountId(payload: OAuthPayload): string | undefined {
  let tokens: { account_id?: unknown; id_token?: unknown } | undefined;
  try {
    tokens = (JSON.parse(payload.files["auth.json"] ?? "null") as { tokens?: typeof tokens } | null)?.tokens;
  } catch {
    return undefined;
  }
  if (typeof tokens?.account_id === "string" && tokens.account_id) return tokens.account_id;
  const auth = decodeJwtClaims(tokens?.id_token)?.["https://api.openai.com/auth"] as { chatgpt_account_id?: unknown } | undefined;
  return typeof auth?.chatgpt_account_id === "string" ? auth.chatgpt_account_id : undefined;
}

type Builder = (input: BuildInput) => Omit<ProxyClientConfig, "provider" | "mode" | "caFile">;

/**
 * gh has no base-URL setting for github.com, but sends every request as plain HTTP over the socket
 * its `http_unix_socket` key names (keeping the Host it meant), with `Authorization: token <GH_TOKEN>`.
 */
function ghThroughSocket({ phantoms, dir, socketPath }: BuildInput): ReturnType<Builder> {
  if (!socketPath) throw new UsageError("gh reaches the proxy only through its Unix socket: give the socket path as gh sees it (--socket)");
  return {
    env: { GH_TOKEN: phantoms.accessToken, GH_CONFIG_DIR: dir, GH_NO_UPDATE_NOTIFIER: "1" },
    files: { [`${dir}/config.yml`]: `http_unix_socket: ${socketPath}\n` },
  };
}

/** How each vendor CLI is pointed at a proxy with phantom credentials (the table in docs/vendors.md). */
const BUILDERS: Record<string, Partial<Record<ProxyMode, Builder>>> = {
  claude: {
    api_key: ({ base, phantoms: p }) => ({ env: { ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: p.accessToken }, files: {} }),
    // expiresAt null: the CLI never tries to refresh; the proxy does.
    oauth: ({ base, phantoms: p, dir }) => ({
      env: { ANTHROPIC_BASE_URL: base },
      files: {
        [`${dir}/.credentials.json`]: JSON.stringify({
          claudeAiOauth: { accessToken: p.accessToken, refreshToken: "", expiresAt: null, scopes: ["user:inference"], subscriptionType: "max" },
        }),
      },
    }),
  },
  anthropic: { api_key: ({ base, phantoms: p }) => ({ env: { ANTHROPIC_BASE_URL: base, ANTHROPIC_API_KEY: p.accessToken }, files: {} }) },
  codex: {
    api_key: ({ base, phantoms: p, dir }) => ({
      env: { CODEX_API_KEY: p.accessToken },
      files: { [`${dir}/config.toml`]: `openai_base_url = "${base}/v1"\n` },
    }),
    // Codex 0.169 refuses a ChatGPT backend that is not HTTPS ("workspace backend must use an
    // HTTPS origin without credentials"): TLS to the proxy, which its CA env var makes trusted.
    oauth: ({ tlsBase: base, phantoms: p, dir, chatgptAccountId: account, caFile }) => ({
      env: { CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${base}/oauth/token`, CODEX_CA_CERTIFICATE: caFile() },
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
  gh: {
    api_key: ghThroughSocket,
    oauth: ghThroughSocket,
  },
  openai: { api_key: ({ base, phantoms: p }) => ({ env: { OPENAI_BASE_URL: `${base}/v1`, OPENAI_API_KEY: p.accessToken }, files: {} }) },
  gemini: {
    // gemini-cli 0.61 takes GOOGLE_GEMINI_BASE_URL alone as its "gateway" auth type and then refuses
    // it ("Invalid auth method selected."): the settings pin API-key auth, the base URL still applies.
    api_key: ({ base, phantoms: p, dir }) => ({
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
  /** The proxy's CA certificate as the client sees it (a TLS client); default: the home's own copy. */
  caFile?: string;
  /** The proxy's Unix socket as the client sees it (gh needs it). */
  socketPath?: string;
  /** Narrows the session below the roster's proxy route (stored with its phantoms). */
  policy?: SessionPolicy;
}

/** The command that stores a credential the proxy can use; `auth` takes the project (its set), `key` does not. */
function proxyFixCommand(entry: Provider, modes: readonly ProxyMode[], credentialSet: string, project: string | undefined): string {
  const fix = fixCommandFor(modes.includes(entry.modes[0]!) ? entry : { ...entry, modes: [...modes] }, credentialSet);
  const byProject = project !== undefined && project === credentialSet && fix.startsWith("authctl auth ");
  return byProject ? fix.replace(` --set ${credentialSet}`, ` --project ${project}`) : fix;
}

/**
 * The checks before anything is minted: a known provider (else the roster's error naming it), a
 * credential stored in the set, and client settings for its kind.
 * @throws MissingCredentialsError when the set holds no credential the provider's proxy client can use
 */
export function proxyClientFor(provider: string, options: WithContext & { credentialSet?: string | undefined; project?: string | undefined }) {
  const context = contextFrom(options);
  const entry = context.roster().get(provider);
  const credentialSet = options.credentialSet ?? DEFAULT_SET;
  const builders = BUILDERS[entry.name];
  if (!builders) {
    const others = Object.keys(BUILDERS).filter((name) => name !== entry.name);
    throw new UsageError(`${entry.name} has no proxy client; proxy clients exist for ${others.join(", ")} (for ${entry.name}, use \`authctl run\`)`);
  }
  const modes = Object.keys(builders) as ProxyMode[];
  const stored = context.store().get<OAuthPayload>(credentialSet, entry.name);
  const mode = stored ? modeOf(stored.kind) : undefined;
  const build = mode && builders[mode];
  if (!stored || !mode || !build) {
    const fix = proxyFixCommand(entry, modes, credentialSet, options.project);
    const why = stored
      ? `${credentialSet}:${entry.name} is a ${stored.kind} credential, but its proxy client takes ${modes.join(" or ")}; run: ${fix}`
      : `no credentials for ${credentialSet}:${entry.name}; run: ${fix}`;
    throw new MissingCredentialsError(entry.name, credentialSet, fix, why);
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

  const base = options.baseUrl.replace(/\/+$/, "");
  let caFile: string | undefined;
  const built = build({
    base,
    tlsBase: base.replace(/^http:/, "https:"),
    phantoms,
    dir: configDir,
    socketPath: options.socketPath,
    chatgptAccountId: entry.name === "codex" && mode === "oauth" ? chatgptAccountId(stored!.payload) : undefined,
    caFile: () => (caFile ??= options.caFile ?? localCa({ context }).certificateFile),
  });
  // A provider with a git route: its git (in the container) clones and pushes through the proxy too.
  const git = entry.proxy?.git;
  const env = git ? { ...built.env, ...gitClientEnv(git.host, base, phantoms.accessToken) } : built.env;
  return { provider: entry.name, mode, phantoms, ...built, env, ...(caFile === undefined ? {} : { caFile }) };
}
