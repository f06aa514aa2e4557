import type { Deps } from "../context.js";
import { resolveDeps } from "../context.js";
import { detectEngine, type Engine } from "../engine/index.js";
import { InterruptedError, ModeUnavailableError } from "../core/errors.js";
import type { AuthMode, Provider } from "../roster/schema.js";
import { storeApiKey, type StoredSummary } from "./api-key/apiKey.js";
import { ensureAuthImage } from "./container/images.js";
import { runSession } from "./container/runSession.js";
import { oauthProvider, prepareOAuthSession, type AuthSession, type CaptureSummary } from "./container/session.js";
import { terminalUi, type AuthUi } from "../ui/ui.js";

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export type ImageSource = string | (() => Promise<string>);

export interface AuthenticateOptions extends Deps {
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
  engine?: Engine;
  tty?: boolean;
}

export type AuthResult = CaptureSummary | StoredSummary;

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

async function resolveImage(source: ImageSource | undefined, entry: Provider, engine: Engine, ui?: AuthUi): Promise<string> {
  if (typeof source === "string") return source;
  if (typeof source === "function") return source();
  oauthProvider(entry);
  return ensureAuthImage(engine, entry.oauth!.image, ui && ((line) => ui.show(line)));
}

/** One named surface per provider: `run` does the whole interactive login, `prepareOAuth` holds it. */
export class Authenticator {
  constructor(readonly provider: string) {}

  async run(projectId: string | null, options: AuthenticateOptions = {}): Promise<AuthResult> {
    const deps = resolveDeps(options);
    const entry = deps.roster.get(this.provider);
    const ui = options.ui ?? terminalUi();
    const modes = effectiveModes(entry, options);
    let mode = modes[0]!;
    if (modes.length > 1) {
      const choice = await ui.choose(`How should ${entry.label} log in?`, ["OAuth (container)", "API key"]);
      mode = choice === 0 ? "oauth" : "api_key";
    }
    if (mode === "api_key") {
      const hint = entry.api_key?.key_url ? ` (get one at ${entry.api_key.key_url})` : "";
      ui.show(`Paste the ${entry.label} API key${hint}; it will not be shown.`);
      const key = await ui.promptSecret(`${entry.api_key?.env_var ?? "API key"}: `);
      return storeApiKey(entry.name, key, { ...deps, credentialSet: options.credentialSet });
    }
    // A stop signal while the session is prepared (temp dir made, leftover container removed)
    // must not leave the temp dir behind: note it, clean up, end interrupted.
    let stoppedBy: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => void (stoppedBy ??= signal);
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    let session: AuthSession;
    try {
      session = await this.prepareOAuth(projectId, { ...options, ...deps, ui });
    } finally {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    }
    if (stoppedBy) {
      await session.cleanup();
      throw new InterruptedError(stoppedBy);
    }
    return runSession(session, ui);
  }

  /** Builds the session without running it; the image (tag, lazy callable or default build) is resolved here. */
  async prepareOAuth(projectId: string | null, options: AuthenticateOptions = {}): Promise<AuthSession> {
    const deps = resolveDeps(options);
    const entry = deps.roster.get(this.provider);
    const engine = options.engine ?? (await detectEngine());
    const image = await resolveImage(options.image, entry, engine, options.ui);
    return prepareOAuthSession(this.provider, projectId, { ...options, ...deps, image, engine });
  }
}

export function authenticate(projectId: string | null, provider: string, options: AuthenticateOptions = {}): Promise<AuthResult> {
  return new Authenticator(provider).run(projectId, options);
}
