import type { Readable, Writable } from "node:stream";
import { systemClock, type Clock } from "./core/clock.js";
import type { Env } from "./core/env.js";
import type { ResolveHost } from "./core/netGuard.js";
import { AuthctlError } from "./core/errors.js";
import { authctlHome, storePaths, type StorePaths } from "./core/paths.js";
import { stdinIsTerminal } from "./core/terminal.js";
import type { Engine } from "./engine/detect.js";
import { loadRoster, type Roster } from "./roster/load.js";
import { CredentialStore } from "./store/store.js";

export type { Env } from "./core/env.js";

/** The streams an interactive flow may use; absent in a daemon or a test that has none. */
export interface ContextStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** The descriptor behind `stdin` when it is the process's own: a child is handed it without building the stream. */
  stdinFd?: number;
}

export interface AuthctlOptions {
  /** The environment authctl reads its settings from; entry points pass `process.env`. */
  env: Env;
  /** Defaults to `$AUTHCTL_HOME`, else `~/.authctl`. */
  home?: string;
  /** Where the nearest project file (`authctl.yaml`) is looked for; none: no project file applies. */
  cwd?: string;
  clock?: Clock;
  io?: ContextStreams;
  /** Already-built parts (tests, the CLI factory); otherwise each is built on first use. */
  store?: CredentialStore | (() => CredentialStore);
  roster?: Roster;
  engine?: Engine;
  /** How a token endpoint's name becomes the addresses checked before a login's refresh dials it (a test's DNS stub); default the system resolver. */
  resolveHost?: ResolveHost;
}

/**
 * Everything a library call needs from its surroundings: home, env, clock, streams, and the
 * store, roster and engine built lazily from them. The one place defaults are built: nothing
 * below the entry points reads `process.env`, `process.stdin` or the clock on its own, so a
 * TUI, a daemon and a test each run the same code with their own home, env and streams.
 */
export class Authctl implements Disposable {
  readonly env: Env;
  readonly home: string;
  readonly cwd: string | undefined;
  readonly clock: Clock;
  readonly io: ContextStreams | undefined;
  readonly paths: StorePaths;
  /** Undefined: the system resolver (left unloaded until a login refreshes). */
  readonly resolveHost: ResolveHost | undefined;
  private openedStore: CredentialStore | undefined;
  private readonly givenStore: (() => CredentialStore) | undefined;
  private loadedRoster: Roster | undefined;
  private detectedEngine: Promise<Engine> | undefined;

  constructor(options: AuthctlOptions) {
    this.env = options.env;
    const given = options.store;
    this.home = options.home ?? (typeof given === "object" ? given.home : undefined) ?? authctlHome(options.env);
    this.cwd = options.cwd;
    this.clock = options.clock ?? systemClock;
    this.io = options.io;
    this.paths = storePaths(this.home);
    this.resolveHost = options.resolveHost;
    this.givenStore = typeof given === "object" ? () => given : given;
    this.loadedRoster = options.roster;
    this.detectedEngine = options.engine && Promise.resolve(options.engine);
  }

  /** `credentials.db`, opened on first use and kept for the context's life (hot loops reuse it). */
  store(): CredentialStore {
    if (this.givenStore) return this.givenStore();
    this.openedStore ??= CredentialStore.open({ home: this.home, env: this.env, clock: this.clock });
    return this.openedStore;
  }

  /** The shipped roster plus `$AUTHCTL_HOME/agents/`, validated once. */
  roster(): Roster {
    this.loadedRoster ??= loadRoster({ userDir: this.paths.userRoster });
    return this.loadedRoster;
  }

  /**
   * podman or docker (`AUTHCTL_ENGINE` overrides), detected on first use. Detection (and the
   * HTTP client it talks to the engine with) loads only then: most commands start no container.
   */
  engine(): Promise<Engine> {
    this.detectedEngine ??= import("./engine/detect.js").then(({ detectEngine }) => detectEngine(this.env));
    return this.detectedEngine;
  }

  /** Whether stdin is a terminal (prompts, `-t` for a login container). */
  get interactive(): boolean {
    return this.io !== undefined && stdinIsTerminal(this.io);
  }

  /** Closes the store if this context opened it (a given store belongs to whoever gave it). */
  close(): void {
    this.openedStore?.close();
    this.openedStore = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** What library entry points accept: a context, or none to use the process default. */
export interface WithContext {
  context?: Authctl;
}

let defaultFactory: (() => Authctl) | undefined;
let processDefault: Authctl | undefined;

/**
 * Registers how the default context is built. The package entry (`src/index.ts`) registers one
 * built from `process.env` and the process's streams; the library itself never reads them.
 */
export function setDefaultContext(factory: () => Authctl): void {
  defaultFactory = factory;
  processDefault = undefined;
}

export function contextFrom(options: WithContext = {}): Authctl {
  if (options.context) return options.context;
  if (!defaultFactory) {
    throw new AuthctlError("no authctl context: pass { context: new Authctl({ env }) } or import authctl from its package entry");
  }
  processDefault ??= defaultFactory();
  return processDefault;
}
