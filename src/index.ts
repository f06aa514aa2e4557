/** authctl's public API: everything a TypeScript caller needs, nothing that prints or exits. */
export * from "./errors.js";
export { loadRoster, parseProviderFile, Roster, BUILTIN_ROSTER_DIR, type LoadRosterOptions } from "./roster/load.js";
export type { Provider, OAuthConfig, ApiKeyConfig, CaptureSpec, AuthMode } from "./roster/schema.js";
export {
  CredentialStore,
  type CredentialInfo,
  type CredentialKind,
  type StoredCredential,
  type OpenStoreOptions,
} from "./store/store.js";
export type { KeySourceName } from "./store/keySource.js";
export { authctlHome } from "./store/paths.js";
export { maskSecret, redact } from "./store/mask.js";
export { DEFAULT_SET, parseCredentialRef } from "./store/names.js";
export { storeApiKey, validateApiKey, type ApiKeyPayload, type StoredSummary, type StoreApiKeyOptions } from "./auth/apiKey.js";
export { getCredentials, fixCommandFor, type GetCredentialsOptions } from "./credentials.js";
export { defaultStore, defaultRoster, type Deps } from "./context.js";
export {
  Authenticator,
  authenticate,
  effectiveModes,
  type AuthenticateOptions,
  type AuthResult,
  type ImageSource,
} from "./auth/authenticator.js";
export {
  AuthSession,
  prepareOAuthSession,
  restoreSession,
  type AuthSessionState,
  type CaptureSummary,
  type PrepareOAuthOptions,
} from "./auth/session.js";
export { runSession } from "./auth/runSession.js";
export { apiKeyCommand } from "./auth/apiKeyCommand.js";
export { terminalUi, type AuthUi } from "./auth/ui.js";
export type { OAuthPayload } from "./auth/capture/index.js";
export { detectEngine, type Engine, type EngineName } from "./engine/index.js";
