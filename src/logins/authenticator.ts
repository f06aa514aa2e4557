import * as z from "zod";
import { contextFrom, type WithContext } from "../context.js";
import { isPlainObject, ProviderArgument, SetOptions, validateArguments } from "../core/arguments.js";
import { holdSignal, interruption } from "../core/abort.js";
import type { Engine } from "../engine/index.js";
import { ModeUnavailableError } from "../core/errors.js";
import { assertImageReference } from "../core/imageRef.js";
import { lazy } from "../core/lazy.js";
import type { AuthMode, Provider } from "../roster/schema.js";
import { storeApiKey, type StoredSummary } from "./api-key/apiKey.js";
import { defaultAuthImage } from "./container/images.js";
import { runSession } from "./container/runSession.js";
import { oauthProvider, prepareOAuthSession, type AuthSession, type CaptureSummary } from "./container/session.js";
import { apiKeyQuestion } from "../ui/prompt.js";
import { terminalUi, type AuthUi } from "../ui/ui.js";
import type { HostFlowName } from "../roster/hostFlowSchema.js";
import type { HostLoginOptions, HostLoginSession, HostLoginSummary } from "./hostLogin.js";

export type ImageSource = string | (() => Promise<string>);

export interface AuthenticateOptions extends WithContext {
  /**
   * The project the login is for: it names the login container (`<project>-auth-<provider>-…`) and
   * its banner. Where the credential goes is `credentialSet` alone. Default: none (host-wide).
   */
  projectId?: string | null;
  mountsDir?: string;
  /** A tag, or a lazy callable resolved only if the OAuth path is taken; default builds images/<key>. */
  image?: ImageSource;
  exposeToken?: boolean;
  /** Gate: false closes the OAuth (container) path. */
  oauthEnabled?: boolean;
  credentialSet?: string;
  /** Skip the menu and take this mode (it must still be open). */
  mode?: AuthMode;
  ui?: AuthUi;
  tty?: boolean;
  /** A stop (Ctrl-C in the CLI): the login's container and temp dir are removed, then `InterruptedError`. */
  signal?: AbortSignal;
  /** Host logins (`host_flow` in the roster): client, tenant and scopes overrides. */
  clientId?: string;
  clientSecret?: string;
  tenantId?: string;
  scopes?: string[];
  /** PKCE host logins: the redirect URL pasted from a browser elsewhere, raced against the loopback. */
  pastedRedirectUrl?: Promise<string>;
}

export type AuthResult = CaptureSummary | StoredSummary | HostLoginSummary;

/** How a provider logs in: its vendor CLI in a container, an API key, or one of the host flows. */
export type LoginMethod = "container" | "api_key" | HostFlowName;

export function loginMethodOf(entry: Provider, mode: AuthMode): LoginMethod {
  if (mode === "api_key") return "api_key";
  return entry.host_flow?.flow ?? "container";
}

/** Prepares a host login (device code or PKCE) for a provider whose roster entry has `host_flow`. */
export async function prepareHostLogin(provider: string, options: HostLoginOptions = {}): Promise<HostLoginSession> {
  validateArguments("prepareHostLogin", { provider: [ProviderArgument, provider], options: [SetOptions, options] });
  const context = contextFrom(options);
  if (!context.roster().get(provider).host_flow) {
    throw new ModeUnavailableError(`${provider} has no host login (host_flow); its OAuth login runs in a container: \`authctl auth ${provider}\``);
  }
  // Every host flow runs through openid-client, loaded only when used (it and MSAL are heavy).
  const { prepareOAuth2 } = await import("./oauth2/login.js");
  return prepareOAuth2(provider, { ...options, context });
}

/** Roster modes ∩ the gate, with an error that says which gate closed which mode. */
export function effectiveModes(entry: Provider, options: Pick<AuthenticateOptions, "oauthEnabled" | "mode">): AuthMode[] {
  const open = entry.modes.filter((m) => m !== "oauth" || options.oauthEnabled !== false);
  if (open.length === 0) {
    throw new ModeUnavailableError(
      `${entry.name}: no login mode is open — it only supports ${entry.modes.join(", ")} and OAuth is disabled (oauthEnabled: false)`,
    );
  }
  if (!options.mode) return open;
  if (!open.includes(options.mode)) {
    const why = entry.modes.includes(options.mode) ? "OAuth is disabled (oauthEnabled: false)" : `${entry.name} supports only ${entry.modes.join(", ")}`;
    throw new ModeUnavailableError(`${entry.name}: mode ${options.mode} is not available: ${why}`);
  }
  return [options.mode];
}

async function resolveImage(source: ImageSource | undefined, entry: Provider, engine: Engine, home: string, ui?: AuthUi): Promise<string> {
  if (typeof source === "string") return source;
  if (typeof source === "function") return source();
  oauthProvider(entry);
  return defaultAuthImage(engine, home, entry.oauth!.image, ui && ((line) => ui.show(line)));
}

/** One named surface per provider: `run` does the whole interactive login, `prepareOAuth` holds it. */
export class Authenticator {
  constructor(readonly provider: string) {
    validateArguments("Authenticator", { provider: [ProviderArgument, provider] });
  }

  run(options?: AuthenticateOptions): Promise<AuthResult>;
  /** @deprecated pass the project in the options: `run({ projectId, ... })`. */
  run(projectId: string | null, options?: AuthenticateOptions): Promise<AuthResult>;
  run(first?: string | null | AuthenticateOptions, second?: AuthenticateOptions): Promise<AuthResult> {
    return this.login(withProject("Authenticator.run", first, second));
  }

  private async login(options: AuthenticateOptions): Promise<AuthResult> {
    const context = contextFrom(options);
    const entry = context.roster().get(this.provider);
    const ui = options.ui ?? terminalUi(context.io);
    const modes = effectiveModes(entry, options);
    // Before any question: a login whose credential could not be stored (a wrong passphrase, a
    // read-only store) fails now, not after the user has logged in.
    context.store().assertCanStore();
    let mode = modes[0]!;
    if (modes.length > 1) {
      // In the roster's order: its first mode is the one it recommends (Gemini lists api_key first,
      // its personal Google login being legacy), so the menu's default is never a legacy login.
      const oauthLabel = entry.host_flow ? "OAuth (browser)" : "OAuth (container)";
      const choice = await ui.choose(
        `How should ${entry.label} log in?`,
        modes.map((m) => (m === "oauth" ? oauthLabel : "API key")),
      );
      mode = modes[choice] ?? mode;
    }
    if (mode === "api_key") {
      const key = await ui.promptSecret(apiKeyQuestion(entry));
      return storeApiKey(entry.name, key, { context, credentialSet: options.credentialSet });
    }
    if (entry.host_flow) return this.runHost({ ...options, context }, ui);
    // Held from the image build to the end of the login: a stop anywhere in between ends in the
    // same clean state (no container, no temp dir) instead of an immediate exit.
    const release = holdSignal(options.signal);
    try {
      const session = await this.prepareOAuth({ ...options, context, ui });
      if (options.signal?.aborted) {
        await session.cleanup();
        throw interruption(options.signal);
      }
      return await runSession(session, { ui, signal: options.signal });
    } finally {
      release();
    }
  }

  /** Host login: show the code or URL, wait for the user (a stop aborts the wait; nothing stored), store. */
  private async runHost(options: AuthenticateOptions, ui: AuthUi): Promise<HostLoginSummary> {
    await using session = await prepareHostLogin(this.provider, options);
    ui.show(session.title);
    // Loaded here: its schemas would load zod on the container login's way to its container.
    const { promptText } = await import("./hostLogin.js");
    ui.show(promptText(session.prompt));
    return await session.capture({ signal: options.signal, pastedRedirectUrl: options.pastedRedirectUrl });
  }

  /** Builds the session without running it; the image (tag, lazy callable or default build) is resolved here. */
  prepareOAuth(options?: AuthenticateOptions): Promise<AuthSession>;
  /** @deprecated pass the project in the options: `prepareOAuth({ projectId, ... })`. */
  prepareOAuth(projectId: string | null, options?: AuthenticateOptions): Promise<AuthSession>;
  async prepareOAuth(first?: string | null | AuthenticateOptions, second?: AuthenticateOptions): Promise<AuthSession> {
    const options = withProject("Authenticator.prepareOAuth", first, second);
    const context = contextFrom(options);
    const entry = context.roster().get(this.provider);
    if (typeof options.image === "string") assertImageReference(options.image);
    context.store().assertCanStore(); // before an image build that can take minutes
    const engine = await context.engine();
    const image = await resolveImage(options.image, entry, engine, context.home, options.ui);
    return prepareOAuthSession(this.provider, { ...options, context, image });
  }
}

const AuthenticateArgs = lazy(() => SetOptions.extend({ projectId: z.string().nullable().optional() }));

/** The usual options, recognised without building the schema: zod then loads while the login runs, if at all. */
const acceptedAtSight = (options: unknown) =>
  isPlainObject(options) &&
  (options.credentialSet === undefined || typeof options.credentialSet === "string") &&
  (options.projectId === undefined || options.projectId === null || typeof options.projectId === "string");

/** The options of a call in either spelling: `(options)`, or the deprecated `(projectId, options)`. */
function withProject(fn: string, first: string | null | AuthenticateOptions | undefined, second: AuthenticateOptions | undefined): AuthenticateOptions {
  const options = first === null || typeof first === "string" ? { ...second, projectId: first } : (first ?? {});
  if (!acceptedAtSight(options)) validateArguments(fn, { options: [AuthenticateArgs, options] });
  return options;
}

/** Logs `provider` in (the menu, or `options.mode`), stores the credential in `options.credentialSet` and returns its summary. */
export function authenticate(provider: string, options?: AuthenticateOptions): Promise<AuthResult>;
/** @deprecated provider first: `authenticate(provider, { projectId, ... })`. */
export function authenticate(projectId: string | null, provider: string, options?: AuthenticateOptions): Promise<AuthResult>;
export async function authenticate(first: string | null, second?: string | AuthenticateOptions, third?: AuthenticateOptions): Promise<AuthResult> {
  if (typeof second === "string") return new Authenticator(second).run({ ...third, projectId: first });
  validateArguments("authenticate", { provider: [ProviderArgument, first] });
  return new Authenticator(first as string).run(second ?? {});
}
