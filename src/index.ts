/**
 * authctl's public API (docs/using.md): what a TypeScript caller needs, nothing that prints or
 * exits. `test/public-api.test.ts` holds a snapshot of these names: an addition is a decision.
 *
 * The package entry is where the default context comes from: calls that are given no `context`
 * use one built from this process's environment and streams.
 */
import { Authctl, setDefaultContext } from "./context.js";

setDefaultContext(() => new Authctl({ env: process.env, cwd: process.cwd(), io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr } }));

export { Authctl, type AuthctlOptions, type ContextStreams, type Env, type WithContext } from "./context.js";
export type { Clock } from "./core/clock.js";
export * from "./core/errors.js";
export { recordCredential, type CredentialPayload, type CredentialSummary, type RecordCredentialOptions } from "./credentials/index.js";
export { maskSecret, redact } from "./core/mask.js";
export { DEFAULT_SET } from "./core/names.js";
export type { Roster } from "./roster/load.js";
export type { Provider, OAuthConfig, ApiKeyConfig, CaptureSpec, AuthMode } from "./roster/schema.js";
export { fixCommandFor } from "./roster/fixCommand.js";
export type { CredentialStore, CredentialInfo, CredentialKind, StoredCredential } from "./store/store.js";
export type { KeySourceName } from "./store/keySource.js";
export { storeApiKey, validateApiKey, type ApiKeyPayload, type StoredSummary, type StoreApiKeyOptions } from "./logins/api-key/apiKey.js";
export { storeCommandSource, storeCommandSourceAsync, type StoreCommandSourceOptions } from "./access/storeCommandSource.js";
export { apiKeyCommand } from "./logins/api-key/apiKeyCommand.js";
export { getCredentials, type GetCredentialsOptions } from "./access/credentials.js";
export { listCredentials, status, type ListCredentialsOptions, type StatusOptions } from "./access/inventory.js";
export type { CredentialListing } from "./access/listCredentials.js";
export type { AuthctlStatus, LoginState, LoginStatus } from "./access/status.js";
export { removeCredential, type RemoveCredentialOptions, type RemovedCredential } from "./access/removeCredential.js";
export {
  ApiKeyStrategy,
  HostTokenStrategy,
  resolveAuthStrategy,
  KNOWN_AUTH_TYPES,
  type AuthStrategy,
  type AuthProfile,
  type ResolvedCredential,
  type CredentialSource,
  type StrategyOptions,
} from "./access/strategies.js";
export {
  Authenticator,
  authenticate,
  type AuthenticateOptions,
  type AuthResult,
  type ImageSource,
  type LoginMethod,
  prepareHostLogin,
} from "./logins/authenticator.js";
export type { HostLoginSession, HostLoginOptions, HostLoginSummary, HostPrompt, HostCaptureOptions } from "./logins/hostLogin.js";
export { buildMsalApp, type BuildMsalAppOptions, type MsalPayload } from "./logins/msal/app.js";
export { buildGoogleCredentials, type BuildGoogleCredentialsOptions, type GooglePayload } from "./logins/google/pkce.js";
export type { OAuth2Payload } from "./logins/oauth2/client.js";
export type { HostFlow, HostFlowName } from "./roster/hostFlowSchema.js";
export {
  AuthSession,
  prepareOAuthSession,
  type AuthSessionState,
  type CaptureSummary,
  type PrepareOAuthOptions,
} from "./logins/container/session.js";
export type { OAuthPayload } from "./logins/container/capture/index.js";
export type { Engine, EngineName } from "./engine/index.js";
export { terminalUi, noninteractiveUi, type AuthUi } from "./ui/ui.js";
export { runWithCredentials, type RunWithCredentialsOptions } from "./run/run.js";
export { ServiceClient, type ServiceClientOptions } from "./access/client.js";
export type { Scope as TokenScope, TokenOp } from "./access/protocol.js";
export { createServiceServer, type ServiceServer, type ServiceServerOptions } from "./serve/server.js";
export { runService, type ServiceStarted, type StartServiceOptions } from "./serve/daemon.js";
export type { PeerCheckState } from "./serve/peer.js";
export {
  createCredentialProxy,
  type CredentialProxy,
  type CredentialProxyOptions,
  type ProxyAuditEntry,
} from "./proxy/proxy.js";
export { createProxyServer, listenProxy, type ListenOptions, type ListeningProxy } from "./proxy/server.js";
export { mintPhantoms, revokeSession, type MintPhantomsOptions, type MintedPhantoms } from "./proxy/phantoms.js";
export { proxyClientConfig, type ProxyClientConfig, type ProxyClientOptions } from "./proxy/clientConfig.js";
export {
  prepareAgentContainer,
  removeAgentSessionFiles,
  type AgentContainer,
  type AgentMount,
  type PrepareAgentContainerOptions,
} from "./proxy/agentContainer.js";
export type { UpstreamOverride } from "./proxy/routes.js";
export type { ProxyConfig } from "./roster/proxySchema.js";
