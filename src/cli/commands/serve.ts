import { Command, InvalidArgumentError, Option } from "commander";
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProxyAddress } from "../../access/protocol.js";
import { InterruptedError, ServiceError, UsageError } from "../../core/errors.js";
import { ensurePrivateDir } from "../../core/paths.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { err, out, printJson, stateColor, table } from "../io.js";
import { auditOptions, runAudit } from "./audit.js";

// The daemon starts from the bundled bin when there is one (scripts/bundle-cli.mjs): half the start-up.
const BUNDLED_MAIN = fileURLToPath(new URL("../../bin/authctl.js", import.meta.url));
const CLI_MAIN = existsSync(BUNDLED_MAIN) ? BUNDLED_MAIN : fileURLToPath(new URL("../main.js", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ServeOptions {
  idleExit?: string;
  detach?: boolean;
  /** 127.0.0.1 port for the credential proxy, beside its Unix socket. */
  proxyPort?: number;
  /** The proxy's Unix socket instead of `proxy.sock` in the run dir. */
  proxySocket?: string;
  /** commander's `--no-tls`: the proxy speaks TLS too unless false. */
  tls?: boolean;
  /** Print where the proxy listens as JSON on stdout once it does. */
  json?: boolean;
  /** Start without the store key, which `authctl unlock` hands over next (it starts the daemon this way). */
  awaitUnlock?: boolean;
}

/** A daemon `run` or `container-args` started stops on its own after this long idle (no token, no live phantom). */
export const ON_DEMAND_IDLE_EXIT_MS = 10 * 60_000;

export const portNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port number (0 picks a free one)");
  return n;
};

/** `authctl serve`: the local credential service and the credential proxy in the foreground, until a stop signal. */
export async function runServe(f: Factory, opts: ServeOptions): Promise<void> {
  const idleExitMs = opts.idleExit === undefined ? undefined : seconds(opts.idleExit, "--idle-exit") * 1000;
  if (opts.detach) return runDetached(f, opts, idleExitMs);
  const context = await f.context();
  // Unlock now (a terminal may be asked for the passphrase), not at the first request.
  if (!opts.awaitUnlock) (await f.unlockedStore()).verifyKey();
  const [{ runService }, { auditPath }] = await Promise.all([import("../../serve/daemon.js"), import("../../store/audit.js")]);
  await runService({
    context,
    signal: f.signal,
    ...(idleExitMs ? { idleExitMs } : {}),
    proxy: { ...(opts.proxyPort !== undefined ? { port: opts.proxyPort } : {}), ...(opts.proxySocket ? { socketPath: opts.proxySocket } : {}), ...(opts.tls === false ? { tls: false } : {}) },
    onListening: (socketPath, { peerCheck, proxy }) => {
      if (opts.json) printJson(f.io, listeningJson(socketPath, process.pid, proxy, auditPath(context.home)));
      const where = [proxy.socket, proxy.url].filter(Boolean).join(" and ");
      err(f.io, `authctl service listening on ${socketPath}, credential proxy on ${where} (stop: Ctrl-C or \`authctl serve stop\`)`);
      if (proxy.caFile) err(f.io, `the proxy speaks TLS too, on the same listeners: clients trust ${proxy.caFile}`);
      if (!peerCheck.enabled) err(f.io, `authctl: callers' uids are not checked: ${peerCheck.reason}; the capability token is the only line`);
    },
  });
  // The daemon stopped cleanly either way; Ctrl-C still ends with the shell's 130 (a SIGTERM from a service manager is a clean 0).
  const reason: unknown = f.signal.aborted ? f.signal.reason : undefined;
  if (reason instanceof InterruptedError && reason.signal === "SIGINT") throw reason;
}

/**
 * Where a daemon listens, one name per socket: `serve --json`, `serve --detach --json` and
 * `serve status --json` all say it this way.
 */
function listeningJson(serviceSocket: string, pid: number | null, proxy: ProxyAddress | undefined, auditLog: string) {
  return { serviceSocket, proxySocket: proxy?.socket ?? null, url: proxy?.url ?? null, tlsUrl: proxy?.tlsUrl ?? null, caFile: proxy?.caFile ?? null, pid, auditLog };
}

/** What the flags ask for that the running daemon does not serve (flags not given ask for nothing). */
function configMismatch(opts: ServeOptions, proxy: ProxyAddress | undefined): string[] {
  const port = proxy?.url ? Number(new URL(proxy.url).port) : undefined;
  const wrong: string[] = [];
  if (opts.proxyPort !== undefined && (port === undefined || (opts.proxyPort !== 0 && port !== opts.proxyPort))) {
    wrong.push(`its proxy ${port === undefined ? "has no TCP port" : `is on port ${port}`}, not --proxy-port ${opts.proxyPort}`);
  }
  if (opts.proxySocket && resolve(opts.proxySocket) !== proxy?.socket) wrong.push(`its proxy socket is ${proxy?.socket ?? "unknown"}, not ${resolve(opts.proxySocket)}`);
  if (opts.tls === false && proxy?.caFile) wrong.push("its proxy speaks TLS too, not --no-tls");
  return wrong;
}

/**
 * `serve --detach`: one daemon per home, so a running one is never silently taken for the one the
 * flags asked for: it is reported when it serves what they ask, refused with the way out otherwise.
 */
async function runDetached(f: Factory, opts: ServeOptions, idleExitMs: number | undefined): Promise<void> {
  const context = await f.context();
  const [{ connectService }, { auditPath }] = await Promise.all([import("../../serve/daemon.js"), import("../../store/audit.js")]);
  const running = await connectService(context);
  if (running) {
    const pid = running.peer?.pid ?? running.health.pid;
    const wrong = configMismatch(opts, running.health.proxy);
    if (wrong.length > 0) {
      const again = ["authctl serve --detach", ...daemonArgs(opts)].join(" ");
      throw new ServiceError(`an authctl service already runs for this home (pid ${pid}) and ${wrong.join("; ")}: stop it first with \`authctl serve stop\`, then start it with \`${again}\``);
    }
    err(f.io, `the authctl service is already running for this home (pid ${pid})${opts.proxyPort !== undefined || opts.proxySocket ? ", with the proxy you asked for" : ""}`);
  } else {
    await startDetachedService(f, idleExitMs, daemonArgs(opts));
  }
  const now = running ?? (await connectService(context));
  if (!now) throw new ServiceError("the authctl service stopped right after it started: run `authctl serve status`, or `authctl serve` in a terminal");
  if (!opts.json) return out(f.io, now.socketPath);
  printJson(f.io, listeningJson(now.socketPath, now.peer?.pid ?? now.health.pid, now.health.proxy, auditPath(context.home)));
}

/** The proxy flags a detached daemon is started with. */
const daemonArgs = (opts: ServeOptions) => [
  ...(opts.proxyPort !== undefined ? ["--proxy-port", String(opts.proxyPort)] : []),
  ...(opts.proxySocket ? ["--proxy-socket", opts.proxySocket] : []),
  ...(opts.tls === false ? ["--no-tls"] : []),
];

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} takes a whole number of seconds, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Starts `authctl serve` as a detached daemon (same env, so the same key sources) and waits until
 * it answers; returns its socket. Used by `serve --detach` and on demand by `run`.
 */
export async function startDetachedService(f: Factory, idleExitMs?: number, extraArgs: string[] = [], env = f.io.env): Promise<string> {
  const context = await f.context();
  const [{ connectService, serviceLocation }, { daemonLogPath, daemonStartFailure }] = await Promise.all([import("../../serve/daemon.js"), import("../../serve/failure.js")]);
  const args = [CLI_MAIN, "serve", ...(idleExitMs ? ["--idle-exit", String(Math.ceil(idleExitMs / 1000))] : []), ...extraArgs];
  const logPath = daemonLogPath(ensurePrivateDir(context.home));
  const log = openSync(logPath, "w", 0o600);
  let daemon;
  try {
    daemon = spawn(process.execPath, args, { detached: true, stdio: ["ignore", "ignore", log], env });
  } finally {
    closeSync(log);
  }
  daemon.unref();
  let exited: number | null = null;
  daemon.once("exit", (code) => (exited = code ?? 1));
  // Generous: a passphrase store derives its key (scrypt) before the socket opens, on a busy machine too.
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (await connectService(context)) return serviceLocation(context).socketPath;
    if (exited !== null) break;
    await sleep(50);
  }
  const reason = daemonStartFailure(logPath);
  throw new ServiceError(
    `the authctl service did not start${exited !== null ? ` (exit ${exited})` : ""}: ${reason ?? `it said nothing (its stderr: ${logPath}); run \`authctl serve\` in a terminal to see why`}`,
  );
}

export async function runServeStatus(f: Factory, opts: { json?: boolean }): Promise<void> {
  const context = await f.context();
  const { connectService, serviceLocation } = await import("../../serve/daemon.js");
  const where = serviceLocation(context);
  const connected = await connectService(context);
  // The pid file is only a hint: the pid shown is the verified daemon's (its socket's peer, else what it reports).
  const pid = connected ? (connected.peer?.pid ?? connected.health.pid) : null;
  const proxy = connected?.health.proxy;
  const { auditPath } = await import("../../store/audit.js");
  if (opts.json) printJson(f.io, { running: Boolean(connected), ...listeningJson(where.socketPath, pid, proxy, auditPath(context.home)) });
  else {
    const rows = [["service", connected ? stateColor(f.io, "ok", "running") : stateColor(f.io, "failed", "not running")], ["service socket", where.socketPath], ["pid", String(pid ?? "-")]];
    if (proxy) rows.push(["proxy", [proxy.socket, proxy.url].filter(Boolean).join(" and ")]);
    if (connected?.peerUnchecked) rows.push(["verified", `by its directory only: the daemon's uid is not read (${connected.peerUnchecked})`]);
    for (const line of table(rows)) out(f.io, line);
  }
  if (!connected) f.exitCode = 1;
}

/**
 * Stops this home's daemon, and nothing else: only a daemon that answers on the verified socket is
 * stopped. It gets SIGTERM when its socket's peer is the pid its lock file names; otherwise (peer
 * unreadable, or a pid file that names someone else) it is asked over the socket, with the admin key.
 */
export async function runServeStop(f: Factory, opts: { json?: boolean } = {}): Promise<void> {
  const context = await f.context();
  const { connectService, serviceLocation, runningDaemonPid } = await import("../../serve/daemon.js");
  const { pidFile } = serviceLocation(context);
  const connected = await connectService(context);
  if (!connected) {
    if (opts.json) return printJson(f.io, { stopped: false });
    return err(f.io, "authctl service is not running (nothing answers on its socket; a leftover pid file is ignored)");
  }
  const pid = connected.peer?.pid ?? connected.health.pid;
  if (connected.peer && runningDaemonPid(pidFile) === connected.peer.pid) {
    process.kill(connected.peer.pid, "SIGTERM");
  } else {
    const { ADMIN_KEY_LABEL } = await import("../../access/adminAuth.js");
    const { ServiceClient } = await import("../../access/client.js");
    await new ServiceClient({ socketPath: connected.socketPath, adminKey: (await f.unlockedStore()).subkey(ADMIN_KEY_LABEL) }).shutdown();
  }
  for (let waited = 0; waited < 10_000 && existsSync(connected.socketPath); waited += 50) await sleep(50);
  if (opts.json) printJson(f.io, { stopped: true, pid });
  else err(f.io, `stopped the authctl service (pid ${pid})`);
}

export function serveCommand(f: Factory): Command {
  const serve = new Command("serve")
    .description("the local credential service (a Unix socket that hands out credentials to holders of scoped tokens) and the credential proxy")
    .option("--detach", "start in the background and print the service socket (refused when a daemon with other proxy flags runs)")
    .addOption(new Option("--idle-exit <seconds>", "stop after this long with no requests, no live tokens and no live proxy sessions"))
    .option("--proxy-port <n>", "also serve the credential proxy on 127.0.0.1:<n> (0: any free port)", portNumber)
    .option("--proxy-socket <path>", "the proxy's Unix socket (default: proxy.sock beside the service socket)")
    .option("--no-tls", "the proxy speaks plain HTTP only (Codex in ChatGPT mode needs TLS: the proxy's local CA, $AUTHCTL_HOME/proxy-ca)")
    .option("--json", "print JSON once listening: serviceSocket, proxySocket, url, tlsUrl, caFile, pid, auditLog")
    .addOption(new Option("--await-unlock").hideHelp())
    .action((opts: ServeOptions) => runServe(f, opts));
  // `serve` has a --json of its own, which commander hands to it even after a subcommand: merge it back.
  serve
    .command("status")
    .description("whether the service runs, its socket and its proxy's")
    .option("--json", "print JSON: running, serviceSocket, proxySocket, url, tlsUrl, caFile, pid, auditLog")
    .action((_opts, cmd: Command) => runServeStatus(f, cmd.optsWithGlobals()));
  serve
    .command("stop")
    .description("stop the service of this home")
    .option("--json", "print JSON: stopped (and the pid it stopped)")
    .action((_opts, cmd: Command) => runServeStop(f, cmd.optsWithGlobals()));
  auditOptions(serve.command("log").description("the audit log (same as `authctl audit`)")).action((_opts, cmd: Command) => runAudit(f, cmd.optsWithGlobals()));
  return withExamples(serve, f.io, [
    ["the daemon in the background, with the proxy on a port", "authctl serve --detach --proxy-port 8787"],
    ["whether it runs, and where it listens", "authctl serve status"],
    ["stop it", "authctl serve stop"],
  ]);
}
