import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/env.js";

/** Every name `src/index.ts` exports, with what it is: class, function, const or type. */
function exportedApi(): string[] {
  const entry = join(REPO, "src/index.ts");
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  return checker.getExportsOfModule(moduleSymbol).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const spec = symbol.declarations?.[0];
    const typeOnly = spec !== undefined && ts.isExportSpecifier(spec) && (spec.isTypeOnly || spec.parent.parent.isTypeOnly);
    if (typeOnly) return `${symbol.name}: type`;
    const f = target.flags;
    const kind = f & ts.SymbolFlags.Class ? "class" : f & ts.SymbolFlags.Function ? "function" : f & ts.SymbolFlags.Variable ? "const" : "type";
    return `${symbol.name}: ${kind}`;
  }).sort();
}

// An addition or removal here is a decision about the public API (docs/using.md), not an accident.
const API = [
  "AccessDeniedError: class",
  "AgentContainer: type",
  "AgentMount: type",
  "ApiKeyConfig: type",
  "ApiKeyPayload: type",
  "ApiKeyStrategy: class",
  "AuthMode: type",
  "AuthProfile: type",
  "AuthResult: type",
  "AuthSession: class",
  "AuthSessionState: type",
  "AuthStrategy: type",
  "AuthUi: type",
  "Authctl: class",
  "AuthctlError: class",
  "AuthctlOptions: type",
  "AuthctlStatus: type",
  "AuthenticateOptions: type",
  "Authenticator: class",
  "BuildGoogleCredentialsOptions: type",
  "BuildMsalAppOptions: type",
  "CaptureError: class",
  "CaptureSpec: type",
  "CaptureSummary: type",
  "Clock: type",
  "CommandNotStartedError: class",
  "ContextStreams: type",
  "CredentialInfo: type",
  "CredentialKind: type",
  "CredentialListing: type",
  "CredentialPayload: type",
  "CredentialProxy: type",
  "CredentialProxyOptions: type",
  "CredentialRefreshError: class",
  "CredentialSource: type",
  "CredentialStore: type",
  "CredentialSummary: type",
  "DEFAULT_SET: const",
  "DeliveryRefusedError: class",
  "Engine: type",
  "EngineError: class",
  "EngineName: type",
  "Env: type",
  "GetCredentialsOptions: type",
  "GooglePayload: type",
  "HostCaptureOptions: type",
  "HostFlow: type",
  "HostFlowName: type",
  "HostLoginOptions: type",
  "HostLoginSession: type",
  "HostLoginSummary: type",
  "HostPrompt: type",
  "HostTokenStrategy: class",
  "HttpExchangeError: class",
  "ImageSource: type",
  "InterruptedError: class",
  "InvalidApiKeyError: class",
  "InvalidArgumentError: class",
  "InvalidCredentialError: class",
  "InvalidNameError: class",
  "KNOWN_AUTH_TYPES: const",
  "KeySourceName: type",
  "ListCredentialsOptions: type",
  "ListenOptions: type",
  "ListeningProxy: type",
  "LoginInProgressError: class",
  "LoginMethod: type",
  "LoginState: type",
  "LoginStatus: type",
  "MintPhantomsOptions: type",
  "MintedPhantoms: type",
  "MissingCredentialsError: class",
  "ModeUnavailableError: class",
  "MsalPayload: type",
  "NoEngineError: class",
  "OAuth2Payload: type",
  "OAuthConfig: type",
  "OAuthPayload: type",
  "PeerCheckState: type",
  "PrepareAgentContainerOptions: type",
  "PrepareOAuthOptions: type",
  "Provider: type",
  "ProxyAuditEntry: type",
  "ProxyClientConfig: type",
  "ProxyClientOptions: type",
  "ProxyConfig: type",
  "RecordCredentialOptions: type",
  "RemoveCredentialOptions: type",
  "RemovedCredential: type",
  "ResolvedCredential: type",
  "Roster: type",
  "RosterError: class",
  "RunWithCredentialsOptions: type",
  "SecretSourceError: class",
  "ServiceClient: class",
  "ServiceClientOptions: type",
  "ServiceError: class",
  "ServiceServer: type",
  "ServiceServerOptions: type",
  "ServiceStarted: type",
  "StartServiceOptions: type",
  "StatusOptions: type",
  "StoreApiKeyOptions: type",
  "StoreCommandSourceOptions: type",
  "StoreError: class",
  "StoreLockedError: class",
  "StoredCredential: type",
  "StoredSummary: type",
  "StrategyOptions: type",
  "TokenOp: type",
  "TokenScope: type",
  "UnknownProviderError: class",
  "UnsafeDirectoryError: class",
  "UntrustedServiceError: class",
  "UpstreamOverride: type",
  "UsageError: class",
  "WithContext: type",
  "apiKeyCommand: function",
  "authenticate: function",
  "buildGoogleCredentials: function",
  "buildMsalApp: function",
  "createCredentialProxy: function",
  "createProxyServer: function",
  "createServiceServer: function",
  "fixCommandFor: function",
  "getCredentials: function",
  "listCredentials: function",
  "listenProxy: function",
  "maskSecret: function",
  "mintPhantoms: function",
  "noninteractiveUi: const",
  "prepareAgentContainer: function",
  "prepareHostLogin: function",
  "prepareOAuthSession: function",
  "proxyClientConfig: function",
  "recordCredential: function",
  "redact: function",
  "removeAgentSessionFiles: function",
  "removeCredential: function",
  "resolveAuthStrategy: function",
  "revokeSession: function",
  "runService: function",
  "runWithCredentials: function",
  "status: function",
  "storeApiKey: function",
  "storeCommandSource: function",
  "storeCommandSourceAsync: function",
  "terminalUi: function",
  "validateApiKey: function",
];

describe("public API (src/index.ts)", () => {
  it("exports exactly the snapshot's names and kinds", () => {
    expect(exportedApi()).toEqual(API);
  });

  it("the built package root exports every value in the snapshot, and nothing else", async () => {
    const api = await import("../dist/index.js");
    const values = API.filter((line) => !line.endsWith(": type")).map((line) => line.split(":")[0]);
    expect(Object.keys(api).sort()).toEqual(values.sort());
  });
});
