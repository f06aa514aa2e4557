import { contextFrom, type Authctl, type WithContext } from "../../context.js";
import { holdSignal, throwIfAborted } from "../../core/abort.js";
import { randomBytes } from "node:crypto";
import { buildRunArgv, clientCreatesContainers, containerUser, containerUserFor, hostIdDatabasesAhead, removeLabelledContainers, SESSION_LABEL, type Engine } from "../../engine/index.js";
import { CaptureError, InvalidNameError, ModeUnavailableError } from "../../core/errors.js";
import { imageUserOf, type Provider } from "../../roster/schema.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import { assertImageReference } from "../../core/imageRef.js";
import { assertLoginImage } from "./images.js";
import { createLoginDir, loginTempRoot, removeLoginDir } from "./loginDir.js";
import { acquireLoginLock, releaseLoginLock } from "./loginLock.js";
import type { AuthSessionState } from "./savedSessions.js";
import { recordCredential, type CredentialSummary } from "../../credentials/index.js";

export interface CaptureSummary extends CredentialSummary {
  /** Where the shared mount (phantom marker or exposed files) was written. */
  sharedDir: string;
}

export interface PrepareOAuthOptions extends WithContext {
  /** The image to run: a tag. (Authenticator resolves lazy images before it gets here.) */
  image: string;
  /** The project the login is for: it names the container and its banner (the set is `credentialSet`); default none. */
  projectId?: string | null;
  /** Parent of the shared mounts (§7); defaults to `$AUTHCTL_HOME/mounts`. */
  mountsDir?: string;
  exposeToken?: boolean;
  credentialSet?: string;
  /** Add `-t`; defaults to whether the context's stdin is a terminal. */
  tty?: boolean;
  /** Aborting removes what was made so far (temp dir) and throws `InterruptedError`. */
  signal?: AbortSignal;
}

/** The data that describes a session; JSON-safe so `authctl session` can keep it on disk (its schema: savedSessions). */
export type { AuthSessionState } from "./savedSessions.js";

const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * `<project|host>-auth-<provider>-<6 hex>`: readable in `ps`, and unique per session so one login
 * never removes another's container (cleanup goes by the session label, never by name).
 */
export function containerNameFor(provider: string, projectId: string | null, suffix = randomBytes(3).toString("hex")): string {
  return `${projectId ?? "host"}-auth-${provider}-${suffix}`;
}

/** `io.authctl.session=<name>`: the label on this session's container, the only handle cleanup uses. */
export const sessionLabel = (containerName: string) => `${SESSION_LABEL}=${containerName}`;

function bannerFor(provider: Provider, projectId: string | null): { title: string; banner: string } {
  const oauth = provider.oauth!;
  const title = `${provider.label} login`;
  const scope = projectId ? `for project: ${projectId}` : "(host-wide)";
  const lines = [`${title} ${scope}`];
  if (oauth.banner_hint) lines.push(oauth.banner_hint);
  lines.push(`Running \`${oauth.command.join(" ")}\` in a container; the credential is captured when it exits.`);
  return { title, banner: lines.join("\n") };
}

let captureModules: Promise<[typeof import("./capture/index.js"), typeof import("./sharedMount.js")]> | undefined;
/**
 * The modules only capture needs (the vendors' checks, zod with them, the shared mount): the CLI
 * starts loading them once the container is spawned, so their load overlaps the login instead of
 * delaying the container.
 */
export const loadCaptureModules = () => (captureModules ??= Promise.all([import("./capture/index.js"), import("./sharedMount.js")]));

/**
 * One OAuth login, prepared but not run ("hold, don't call"): a TUI runs `argv` in its own
 * terminal and the blocking CLI runs it inline; both then call `capture()` and `cleanup()`.
 */
export class AuthSession implements AuthSessionState {
  readonly provider: string;
  readonly projectId: string | null;
  readonly credentialSet: string;
  readonly exposeToken: boolean;
  readonly containerName: string;
  readonly argv: string[];
  readonly banner: string;
  readonly title: string;
  readonly authDir: string;
  readonly mountsDir: string;
  private captured: CaptureSummary | undefined;
  private cleaned = false;
  /** Set once `removeExitedContainer` found nothing left after the engine client's exit. */
  private goneAfterExit = false;

  constructor(
    state: AuthSessionState,
    private readonly entry: Provider,
    private readonly engine: Engine,
    private readonly context: Authctl,
    /**
     * Who owns the mount dirs (`ContainerUser.owner`), as decided when the container was set up: a
     * session restored from its saved state decides it again at capture.
     */
    private owner?: number | null,
  ) {
    this.provider = state.provider;
    this.projectId = state.projectId;
    this.credentialSet = state.credentialSet;
    this.exposeToken = state.exposeToken;
    this.containerName = state.containerName;
    this.argv = state.argv;
    this.banner = state.banner;
    this.title = state.title;
    this.authDir = state.authDir;
    this.mountsDir = state.mountsDir;
  }

  /**
   * Reads the roster's capture files from the temp dir (refusing symlinks, non-regular and huge
   * files), validates them, stores them in one transaction and writes the shared mount.
   * Idempotent: a second call returns the first summary. Nothing is stored on any failure.
   */
  async capture(): Promise<CaptureSummary> {
    if (this.captured) return this.captured;
    const oauth = this.entry.oauth!;
    const [{ extract, readCaptureFiles }, { prepareSharedMount }] = await loadCaptureModules();
    const files = await readCaptureFiles(this.authDir, oauth.capture.files);
    const { payload, preview, expiresAt } = extract(this.provider, oauth.capture, files);
    // One unit (issue 11): everything the shared mount can refuse (a directory where a file goes,
    // an oversized or absurdly nested state file, a symlinked dir) is checked and its files staged
    // BEFORE the store commit, so a refusal stores nothing and says what to move away. Making it a
    // warning instead would leave a stored credential whose container still sees the old state
    // (e.g. Claude's onboarding wizard), failing later and less clearly. What remains after the
    // commit is renames inside dirs just checked, which fail only if something races us.
    const mount = await prepareSharedMount(this.mountsDir, oauth, payload, {
      exposeToken: this.exposeToken,
      credentialSet: this.credentialSet,
      owner: this.mountOwner(),
    });
    let summary: CredentialSummary;
    try {
      summary = recordCredential(this.context, { credentialSet: this.credentialSet, provider: this.provider, payload, preview, expiresAt, op: "captured" });
    } catch (err) {
      await mount.discard();
      throw err;
    }
    let sharedDir: string;
    try {
      sharedDir = await mount.commit();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CaptureError(`the ${this.provider} credential is stored, but ${why}; log in again to update the shared mount`, { cause: err });
    }
    this.captured = { ...summary, sharedDir };
    return this.captured;
  }

  /**
   * Force-removes the session's labelled container, deletes the temp dir and releases the login
   * lock. Idempotent. The container is looked for on every call: an engine stopped between create
   * and start can still leave one after an earlier cleanup ran (the final cleanup after the engine
   * process exited is the one that must see it).
   */
  async cleanup(): Promise<void> {
    if (this.cleaned) {
      await this.removeContainer();
      return;
    }
    await discardSession(this, this.engine, this.context, { containerGone: this.goneAfterExit });
    this.cleaned = true;
  }

  /**
   * The cleanup's container removal, for a caller that has seen the engine client exit: it can run
   * alongside `capture` (which reads only the temp dir), and the cleanup after it does not look
   * again. Only after the exit: before it, a create may still be in flight.
   */
  async removeExitedContainer(): Promise<void> {
    await this.removeContainer();
    this.goneAfterExit = true;
  }

  /** The environment to run `argv` with: the engine's allow-list, never authctl's secrets. */
  get engineEnv(): Record<string, string> {
    return this.engine.env;
  }

  private mountOwner(): number | null {
    if (this.owner === undefined) this.owner = containerUserFor(this.engine, imageUserOf(this.entry)).owner;
    return this.owner;
  }

  /** True when `argv`'s client creates the container itself (see `clientCreatesContainers`). */
  get clientCreatesContainer(): boolean {
    return clientCreatesContainers(this.engine);
  }

  /** Kills and removes this session's container (found by its label); true if there was one. */
  async removeContainer(): Promise<boolean> {
    return (await removeLabelledContainers(this.engine, sessionLabel(this.containerName))) > 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }

  toJSON(): AuthSessionState {
    const { provider, projectId, credentialSet, exposeToken, containerName, argv, banner, title, authDir, mountsDir } = this;
    return { provider, projectId, credentialSet, exposeToken, containerName, argv, banner, title, authDir, mountsDir };
  }
}

/**
 * Removes what a session made — its labelled container, its temp dir, its login lock — from its
 * state alone, without the roster (a broken roster file must not strand a session). The temp dir
 * goes only if authctl made it (see `removeLoginDir`): returns why it was left otherwise.
 * `containerGone`: the container was already removed after the engine client exited.
 */
export async function discardSession(state: AuthSessionState, engine: Engine, context: Authctl, options: { containerGone?: boolean } = {}): Promise<string | undefined> {
  if (!options.containerGone) await removeLabelledContainers(engine, sessionLabel(state.containerName));
  const left = removeLoginDir(state.authDir, loginTempRoot(context.env));
  releaseLoginLock(context.paths.home, state.credentialSet, state.provider, state.containerName);
  return left;
}

export function oauthProvider(entry: Provider): Provider & { oauth: NonNullable<Provider["oauth"]> } {
  if (!entry.modes.includes("oauth") || !entry.oauth) {
    throw new ModeUnavailableError(`${entry.name} has no OAuth login (modes: ${entry.modes.join(", ")}); use \`authctl key ${entry.name}\``);
  }
  return entry as Provider & { oauth: NonNullable<Provider["oauth"]> };
}

/**
 * Builds an `AuthSession` without running it: login lock taken, fresh temp dir, argv ready.
 * @throws LoginInProgressError while another login for the same set and provider is active
 */
export function prepareOAuthSession(provider: string, options: PrepareOAuthOptions): Promise<AuthSession>;
/** @deprecated pass the project in the options: `prepareOAuthSession(provider, { projectId, ... })`. */
export function prepareOAuthSession(provider: string, projectId: string | null, options: PrepareOAuthOptions): Promise<AuthSession>;
export async function prepareOAuthSession(
  provider: string,
  second: string | null | PrepareOAuthOptions,
  third?: PrepareOAuthOptions,
): Promise<AuthSession> {
  const options = second === null || typeof second === "string" ? { ...third!, projectId: second } : second;
  const projectId = options.projectId ?? null;
  const context = contextFrom(options);
  const entry = oauthProvider(context.roster().get(provider));
  if (projectId !== null && !PROJECT_ID.test(projectId)) {
    throw new InvalidNameError(`invalid project id ${JSON.stringify(projectId.slice(0, 40))}: use letters, digits and _ . -`);
  }
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  assertImageReference(options.image);
  // Before the container: a login whose credential could not be stored never starts.
  context.store().assertCanStore();
  // Root runs the container as a sandbox id no account has: which one is asked while the engine answers.
  const ids = process.getuid?.() === 0 ? hostIdDatabasesAhead().catch(() => undefined) : undefined;
  const engine = await context.engine();
  await assertLoginImage(engine, options.image, entry);
  const { signal } = options;
  // Held until the session is handed over: a stop in between removes the temp dir, then ends.
  const release = holdSignal(signal);
  try {
    const containerName = containerNameFor(entry.name, projectId);
    const releaseLock = await acquireLoginLock(context.paths.home, engine, credentialSet, entry.name, containerName);
    let authDir: string | undefined;
    try {
      throwIfAborted(signal);
      const idDatabases = await ids;
      const user = containerUser(engine, imageUserOf(entry), process.getuid?.(), process.getgid?.(), idDatabases && (() => idDatabases));
      authDir = createLoginDir(containerName, user.owner, loginTempRoot(context.env));
      throwIfAborted(signal);
      const argv = buildRunArgv(engine, {
        image: options.image,
        command: entry.oauth.command,
        hostDir: authDir,
        containerDir: entry.oauth.container_mount,
        containerName,
        extraRunArgs: entry.oauth.extra_run_args,
        tty: options.tty ?? context.interactive,
        user,
        labels: { [SESSION_LABEL]: containerName },
      });
      const { title, banner } = bannerFor(entry, projectId);
      const state: AuthSessionState = {
        provider: entry.name,
        projectId,
        credentialSet,
        exposeToken: options.exposeToken ?? false,
        containerName,
        argv,
        banner,
        title,
        authDir,
        mountsDir: options.mountsDir ?? context.paths.mounts,
      };
      return new AuthSession(state, entry, engine, context, user.owner);
    } catch (err) {
      if (authDir) removeLoginDir(authDir, loginTempRoot(context.env));
      releaseLock();
      throw err;
    }
  } finally {
    release();
  }
}

/** Rebuilds a session from its saved state (the JSON session commands). */
export async function restoreSession(state: AuthSessionState, options: WithContext = {}): Promise<AuthSession> {
  const context = contextFrom(options);
  const entry = oauthProvider(context.roster().get(state.provider));
  return new AuthSession(state, entry, await context.engine(), context);
}
