/** authctl's public API: everything a TypeScript caller needs, nothing that prints or exits. */
export * from "./core/errors.js";
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
export { authctlHome } from "./core/paths.js";
export { maskSecret, redact } from "./core/mask.js";
export { DEFAULT_SET, parseCredentialRef } from "./core/names.js";
export { storeApiKey, validateApiKey, type ApiKeyPayload, type StoredSummary, type StoreApiKeyOptions } from "./logins/api-key/apiKey.js";
export { getCredentials, fixCommandFor, type GetCredentialsOptions } from "./access/credentials.js";
export { defaultStore, defaultRoster, type Deps } from "./context.js";
export {
  Authenticator,
  authenticate,
  effectiveModes,
  type AuthenticateOptions,
  type AuthResult,
  type ImageSource,
} from "./logins/authenticator.js";
export {
  AuthSession,
  prepareOAuthSession,
  restoreSession,
  type AuthSessionState,
  type CaptureSummary,
  type PrepareOAuthOptions,
} from "./logins/container/session.js";
export { runSession } from "./logins/container/runSession.js";
export { apiKeyCommand } from "./logins/api-key/apiKeyCommand.js";
export { terminalUi, type AuthUi } from "./ui/ui.js";
export type { OAuthPayload } from "./logins/container/capture/index.js";
export { detectEngine, type Engine, type EngineName } from "./engine/index.js";
