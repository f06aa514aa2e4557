import { readFileSync } from "node:fs";
import type { AddressInfo, Server } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, expect } from "vitest";
import { parse } from "yaml";
import { Authctl } from "../../src/context.js";
import type { Clock } from "../../src/core/clock.js";
import { mintPhantoms, type MintPhantomsOptions } from "../../src/proxy/phantoms.js";
import { createCredentialProxy, type CredentialProxy, type CredentialProxyOptions, type ProxyAuditEntry } from "../../src/proxy/proxy.js";
import { listenProxy, type ListenOptions, type ListeningProxy } from "../../src/proxy/server.js";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "./context.js";
import { ENGINE, waitForForwarder } from "./engine.js";
import { authctl, tempHome } from "./env.js";
import { writeUserRoster } from "./host-roster.js";
import { type ProxyServeInfo, startProxyServe } from "./proxy-serve.js";

/** A vendor stand-in as the fixture needs it: where it listens, and how to stop it. */
export interface Upstream {
  url: string;
  close(): unknown;
}

/** A proxy's options but its context and audit sink, which are the fixture's. */
export type ProxySetup = Omit<CredentialProxyOptions, "context" | "onAudit">;

export interface ProxyRig<U extends Upstream> {
  readonly home: string;
  readonly store: CredentialStore;
  readonly context: Authctl;
  readonly upstream: U;
  readonly proxy: CredentialProxy;
  readonly listening: ListeningProxy;
  /** The proxy's `http://127.0.0.1:P`. */
  readonly url: string;
  /** What every proxy of the rig audited, in order (those of `listen` too). */
  readonly audit: ProxyAuditEntry[];
  /** A session's phantom access token for `provider`, minted in the rig's store. */
  phantom(provider: string, sessionId: string, options?: Omit<MintPhantomsOptions, "context" | "sessionId">): string;
  /** Another proxy over the same context, listening on a free port until the file's tests end. */
  listen(setup: ProxySetup, options?: ListenOptions): Promise<ListeningProxy>;
  /** `close` runs after the tests, before the proxies, the upstream and the store are closed (the latest first). */
  onTeardown(close: () => unknown): void;
}

export interface ProxyRigOptions<U extends Upstream> {
  /** Started first, closed after the proxies. */
  upstream: () => Promise<U>;
  /** What the store holds before the proxy starts (its credentials). */
  seed: (store: CredentialStore) => void;
  proxy: (upstream: U) => ProxySetup;
  /** Where the proxy listens: a free TCP port when not given. */
  listen?: (rig: ProxyRig<U>) => ListenOptions;
  clock?: Clock;
  busyTimeoutMs?: number;
}

/** A fixture's part read at collection time, or in a hook registered before the fixture's. */
function notStarted(prefix: string, part: string): never {
  throw new Error(`proxy fixture ${prefix}: ${part} read before its beforeAll ran`);
}

/**
 * A test file's credential proxy over a home of its own: the upstream, the store (seeded) and its
 * context, the proxy listening, all started before the file's tests and closed after them, the
 * proxy first. A hook the file registers before this one runs before it and is torn down after it
 * (what the proxy's options need, such as a DNS stub).
 */
export function useProxy<U extends Upstream>(prefix: string, options: ProxyRigOptions<U>): ProxyRig<U> {
  const { home, cleanup } = tempHome(prefix);
  const teardown: Array<() => unknown> = [];
  const listeners: ListeningProxy[] = [];
  const audit: ProxyAuditEntry[] = [];
  const state = {} as { store: CredentialStore; context: Authctl; upstream: U; proxy: CredentialProxy; listening: ListeningProxy };
  const started = <K extends keyof typeof state>(key: K) => state[key] ?? notStarted(prefix, key);
  const createProxy = (setup: ProxySetup) => createCredentialProxy({ ...setup, context: started("context"), onAudit: (entry) => audit.push(entry) });

  const rig: ProxyRig<U> = {
    home,
    audit,
    get store() { return started("store"); },
    get context() { return started("context"); },
    get upstream() { return started("upstream"); },
    get proxy() { return started("proxy"); },
    get listening() { return started("listening"); },
    get url() { return started("listening").url!; },
    phantom: (provider, sessionId, mint = {}) => mintPhantoms(provider, { ...mint, context: started("context"), sessionId }).accessToken,
    async listen(setup, listenOptions = { port: 0 }) {
      const listening = await listenProxy(createProxy(setup), listenOptions);
      listeners.push(listening);
      return listening;
    },
    onTeardown: (close) => void teardown.push(close),
  };

  beforeAll(async () => {
    state.upstream = await options.upstream();
    const env = baseEnv();
    state.store = CredentialStore.open({ home, env, ...(options.clock ? { clock: options.clock } : {}), ...(options.busyTimeoutMs ? { busyTimeoutMs: options.busyTimeoutMs } : {}) });
    state.context = new Authctl({ env, store: state.store, ...(options.clock ? { clock: options.clock } : {}) });
    options.seed(state.store);
    state.proxy = createProxy(options.proxy(state.upstream));
    state.listening = await listenProxy(state.proxy, options.listen?.(rig) ?? { port: 0 });
  });

  afterAll(async () => {
    for (const close of teardown.splice(0).reverse()) await close();
    await state.listening?.close();
    for (const listening of listeners.splice(0)) await listening.close();
    await state.upstream?.close();
    state.store?.close();
    cleanup();
  });
  return rig;
}

/** Starts `server` on a free port of 127.0.0.1 and gives its `http://127.0.0.1:P`. */
export async function listenLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A shipped roster entry's proxy route, the fields tests change. */
export interface RosterRoute {
  base_url: string;
  refresh?: { token_url: string };
  [field: string]: unknown;
}
export type RosterFile = { name: string; proxy: Record<string, RosterRoute> } & Record<string, unknown>;

/** The shipped roster entry of `provider` as `edit` leaves it, written as the home's user roster file (tests point its routes at a fake upstream). */
export function routeProvider(home: string, provider: string, edit: (entry: RosterFile) => void): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, `${provider}.yaml`), "utf8")) as RosterFile;
  edit(entry);
  writeUserRoster(home, entry);
}

export interface ServedProxy<U extends Upstream> {
  readonly home: string;
  readonly upstream: U;
  /** What the built `authctl proxy serve --json` printed once it listened. */
  readonly info: ProxyServeInfo;
  /** `close` runs after the tests, before the proxy stops and the upstream closes (the latest first). */
  onTeardown(close: () => unknown): void;
}

/**
 * A test file's built `authctl proxy serve` over a home of its own: the upstream started, the
 * shipped roster entries of `roster`'s providers changed by their edit (pointed at it) as user
 * files, the store seeded and closed, then the daemon listening; stopped and removed after the
 * file's tests.
 */
export function useProxyServe<U extends Upstream>(
  prefix: string,
  options: {
    upstream: () => Promise<U>;
    roster: Record<string, (entry: RosterFile, upstream: U) => void>;
    seed: (store: CredentialStore) => void;
    /** `proxy serve`'s listen flags: a free TCP port when not given. */
    listen?: (home: string) => string[];
  },
): ServedProxy<U> {
  const { home, cleanup } = tempHome(prefix);
  const teardown: Array<() => unknown> = [];
  const state = {} as { upstream: U; info: ProxyServeInfo; stop: () => Promise<void> };
  const started = <K extends "upstream" | "info">(key: K) => state[key] ?? notStarted(prefix, key);

  beforeAll(async () => {
    state.upstream = await options.upstream();
    for (const [provider, edit] of Object.entries(options.roster)) routeProvider(home, provider, (entry) => edit(entry, state.upstream));
    const store = CredentialStore.open({ home, env: baseEnv() });
    try {
      options.seed(store);
    } finally {
      store.close();
    }
    const served = await startProxyServe(home, options.listen?.(home) ?? ["--port", "0"]);
    state.info = served.info;
    state.stop = served.stop;
  });

  afterAll(async () => {
    for (const close of teardown.splice(0).reverse()) await close();
    await state.stop?.();
    await state.upstream?.close();
    cleanup();
  });
  return {
    home,
    get upstream() { return started("upstream"); },
    get info() { return started("info"); },
    onTeardown: (close) => void teardown.push(close),
  };
}

/** What `authctl container-args --json` prints. */
export interface AgentArgs {
  sessionId: string;
  runArgs: string[];
  command: string[];
  env: Record<string, string>;
}

/**
 * An agent container as a user starts one: `authctl container-args <provider> --project foo` over
 * `home`'s proxy socket (`flags` narrowing its session), then the image run from what it printed,
 * with no network, its forwarder wrapping `sleep` and listening before this returns. `printed` is
 * the command's output, for leak checks; the caller removes the container.
 */
export async function startAgentContainer(
  home: string,
  options: { provider: string; socket: string; name: string; image: string; flags?: string[] },
): Promise<{ agent: AgentArgs; printed: string[] }> {
  const args = await authctl(home, ["container-args", options.provider, "--project", "foo", "--socket", options.socket, ...(options.flags ?? []), "--json"]);
  const printed = [String(args.stdout), String(args.stderr)];
  expect(args.stderr).toBe("");
  const agent = JSON.parse(String(args.stdout)) as AgentArgs;
  const run = await execa(ENGINE, ["run", "-d", "--rm", "--network", "none", ...agent.runArgs, "--name", options.name, options.image, ...agent.command, "sleep", "600"], { reject: false });
  expect(run.exitCode, String(run.stderr)).toBe(0);
  waitForForwarder(options.name);
  return { agent, printed };
}
