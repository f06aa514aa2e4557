import { contextFrom, type Authctl, type WithContext } from "../context.js";
import { MissingCredentialsError, UsageError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { Provider } from "../roster/schema.js";
import { credentialType, secretOf, typedCredential } from "../credentials/index.js";
import { accessExpiry, freshCredential } from "./fresh.js";
import { readCredential } from "./credentials.js";

/** A ready credential: the secret to send, and where it came from. */
export interface ResolvedCredential {
  provider: string;
  /** An API key, or a host login's access token. */
  secret: string;
  source: CredentialSource;
  /** Access tokens: when this one stops working; null when unknown or never. */
  expiresAt: Date | null;
}

/** `command`: a secret source (a stored `command` row or the roster's `source`) printed it just now. */
export type CredentialSource = "explicit" | "store" | "command" | "profile_env" | "fallback_env";

/** One way to get a usable credential, whatever kind it is (docs/using.md). */
export interface AuthStrategy {
  readonly provider: string;
  getCredentials(): Promise<ResolvedCredential>;
  /** Refreshes an access token that is expired or about to; true when it did. API keys never need to. */
  refreshIfNeeded(): Promise<boolean>;
  /** Whether `getCredentials` would succeed without a new login. */
  isValid(): Promise<boolean>;
}

/** How a consumer names the credential it wants (a service's config file, a TUI's profile). */
export interface AuthProfile {
  auth_type: string;
  provider: string;
  credentialSet?: string;
  /** @deprecated spelled `credentialSet`, as in every other entry point. */
  credential_set?: string;
  /** Highest priority; for tests and one-off overrides (never from argv in the CLI). */
  api_key?: string;
  /** An env var this profile reads its key from, before the roster's own. */
  env_var?: string;
}

export interface StrategyOptions extends WithContext {}

const profileSet = (profile: AuthProfile) => assertSetName(profile.credentialSet ?? profile.credential_set ?? DEFAULT_SET);

/**
 * API keys resolve, first that applies: the profile's explicit key → the store → the profile's
 * env var → the roster's env var (ANTHROPIC_API_KEY …); `getCredentials().source` says which won.
 */
export class ApiKeyStrategy implements AuthStrategy {
  readonly provider: string;
  private readonly entry: Provider;
  private readonly credentialSet: string;
  private readonly context: Authctl;

  constructor(private readonly profile: AuthProfile, options: StrategyOptions = {}) {
    this.context = contextFrom(options);
    this.entry = this.context.roster().get(profile.provider);
    this.provider = this.entry.name;
    this.credentialSet = profileSet(profile);
  }

  private resolve(): ResolvedCredential | undefined {
    const found = (secret: string | undefined, source: CredentialSource) => (secret ? { provider: this.provider, secret, source, expiresAt: null } : undefined);
    const { env } = this.context;
    const stored = () => {
      const row = readCredential(this.context, this.credentialSet, this.provider);
      if (!row) return undefined;
      const { payload } = typedCredential(row);
      const type = credentialType(payload);
      if (type.mode !== "api_key") return undefined;
      return found(type.secret(payload), payload.type === "command" ? "command" : "store");
    };
    return (
      found(this.profile.api_key, "explicit") ??
      stored() ??
      found(this.profile.env_var ? env[this.profile.env_var] : undefined, "profile_env") ??
      found(this.entry.api_key?.env_var ? env[this.entry.api_key.env_var] : undefined, "fallback_env")
    );
  }

  async getCredentials(): Promise<ResolvedCredential> {
    const resolved = this.resolve();
    if (!resolved) throw new MissingCredentialsError(this.provider, this.credentialSet, fixCommandFor(this.entry, this.credentialSet));
    return resolved;
  }

  async refreshIfNeeded(): Promise<boolean> {
    return false;
  }

  async isValid(): Promise<boolean> {
    return this.resolve() !== undefined;
  }
}

/** Refresh this long before expiry, so a token handed out still works for the request it is for. */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * Access tokens from a host login (msal_device_code, google_pkce, oauth2_*): refreshed from the
 * stored refresh token when expired or close to it, by one process at a time per (set, provider).
 * A provider without a host login (a vendor CLI's login captured in a container) gives its stored
 * token as it is: the credential proxy is its one refresher.
 */
export class HostTokenStrategy implements AuthStrategy {
  readonly provider: string;
  private readonly entry: Provider;
  private readonly credentialSet: string;
  private readonly context: Authctl;

  constructor(profile: AuthProfile, options: StrategyOptions = {}) {
    this.context = contextFrom(options);
    this.entry = this.context.roster().get(profile.provider);
    this.provider = this.entry.name;
    this.credentialSet = profileSet(profile);
  }

  private missing(): MissingCredentialsError {
    return new MissingCredentialsError(this.provider, this.credentialSet, fixCommandFor(this.entry, this.credentialSet));
  }

  async getCredentials(): Promise<ResolvedCredential> {
    if (!this.entry.host_flow) return this.storedLogin();
    const row = await this.fresh();
    const secret = secretOf(row);
    if (!secret) throw this.missing();
    return { provider: this.provider, secret, source: "store", expiresAt: accessExpiry(row.payload) ?? null };
  }

  /** The host login's row, its access token refreshed first when it lapses within the margin. */
  private async fresh() {
    const row = await freshCredential(this.context, this.credentialSet, this.provider, { skewMs: REFRESH_MARGIN_MS });
    if (!row || accessExpiry(row.payload) === undefined) throw this.missing();
    return row;
  }

  private storedLogin(): ResolvedCredential {
    const row = readCredential(this.context, this.credentialSet, this.provider);
    if (!row) throw this.missing();
    const { payload, expiresAt } = typedCredential(row);
    const type = credentialType(payload);
    const secret = type.mode === "oauth" ? type.secret(payload) : undefined;
    if (!secret) throw new UsageError(`${this.credentialSet}:${this.provider} holds a ${payload.type} credential, not a login's token: use auth_type api_key`);
    return { provider: this.provider, secret, source: "store", expiresAt };
  }

  async refreshIfNeeded(): Promise<boolean> {
    if (!this.entry.host_flow) return false;
    const before = this.context.store().info(this.credentialSet, this.provider)?.updatedAt.getTime();
    return (await this.fresh()).updatedAt.getTime() !== before;
  }

  async isValid(): Promise<boolean> {
    try {
      await this.getCredentials();
      return true;
    } catch {
      return false;
    }
  }
}

const STRATEGIES = {
  api_key: (profile: AuthProfile, options: StrategyOptions) => new ApiKeyStrategy(profile, options),
  oauth: (profile: AuthProfile, options: StrategyOptions) => new HostTokenStrategy(profile, options),
} as const;

export const KNOWN_AUTH_TYPES = Object.keys(STRATEGIES);

/** The strategy for a profile's `auth_type`; an unknown one is an error that lists the known ones. */
export function resolveAuthStrategy(profile: AuthProfile, options: StrategyOptions = {}): AuthStrategy {
  const make = STRATEGIES[profile.auth_type as keyof typeof STRATEGIES];
  if (!make) throw new UsageError(`unknown auth_type ${JSON.stringify(String(profile.auth_type).slice(0, 40))} for ${profile.provider}; known: ${KNOWN_AUTH_TYPES.join(", ")}`);
  return make(profile, options);
}
