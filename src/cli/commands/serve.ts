import { Command, InvalidArgumentError, Option } from "commander";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { err, out, printJson, table } from "../io.js";
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
  if (opts.detach) {
    const socketPath = await startDetachedService(f, idleExitMs, daemonArgs(opts));
    return out(f.io, socketPath);
  }
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
      if (opts.json) printJson(f.io, { service: socketPath, socket: proxy.socket, url: proxy.url ?? null, tlsUrl: proxy.tlsUrl ?? null, caFile: proxy.caFile ?? null, auditLog: auditPath(context.home) });
      const where = [proxy.socket, proxy.url].filter(Boolean).join(" and ");
      err(f.io, `authctl service listening on ${socketPath}, credential proxy on ${where} (stop: Ctrl-C or \`authctl serve stop\`)`);
      if (proxy.caFile) err(f.io, `the proxy speaks TLS too, on the same listeners: clients trust ${proxy.caFile}`);
      if (!peerCheck.enabled) err(f.io, `authctl: callers' uids are not checked: ${peerCheck.reason}; the capability token is the only line`);
    },
  });
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
  const { connectService, serviceLocation } = await import("../../serve/daemon.js");
  const args = [CLI_MAIN, "serve", ...(idleExitMs ? ["--idle-exit", String(Math.ceil(idleExitMs / 1000))] : []), ...extraArgs];
  const daemon = spawn(process.execPath, args, { detached: true, stdio: "ignore", env });
  daemon.unref();
  let exited: number | null = null;
  daemon.once("exit", (code) => (exited = code ?? 1));
  // Generous: a passphrase store derives its key (scrypt) before the socket opens, on a busy machine too.
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (await connectService(context)) return serviceLocation(context).socketPath;
    if (exited !== null) break;
    await sleep(50);
  }
  throw new (await import("../../core/errors.js")).ServiceError(
    `the authctl service did not start${exited !== null ? ` (exit ${exited})` : ""}: run \`authctl serve\` in a terminal to see why`,
  );
}

export async function runServeStatus(f: Factory, opts: { json?: boolean }): Promise<void> {
  const context = await f.context();
  const { connectService, serviceLocation } = await import("../../serve/daemon.js");
  const where = serviceLocation(context);
  const connected = await connectService(context);
  // The pid file is only a hint: the pid shown is the verified daemon's (its socket's peer, else what it reports).
  const pid = connected ? (connected.peer?.pid ?? connected.health.pid) : null;
  const status = { running: Boolean(connected), socket: where.socketPath, pid, proxy: connected?.health.proxy ?? null };
  if (opts.json) return printJson(f.io, status);
  const rows = [["service", status.running ? "running" : "not running"], ["socket", status.socket], ["pid", String(status.pid ?? "-")]];
  if (status.proxy) rows.push(["proxy", [status.proxy.socket, status.proxy.url].filter(Boolean).join(" and ")]);
  if (connected?.peerUnchecked) rows.push(["verified", `by its directory only: the daemon's uid is not read (${connected.peerUnchecked})`]);
  for (const line of table(rows)) out(f.io, line);
  if (!status.running) f.exitCode = 1;
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
    .option("--detach", "start in the background and print the socket path")
    .addOption(new Option("--idle-exit <seconds>", "stop after this long with no requests, no live tokens and no live proxy sessions"))
    .option("--proxy-port <n>", "also serve the credential proxy on 127.0.0.1:<n> (0: any free port)", portNumber)
    .option("--proxy-socket <path>", "the proxy's Unix socket (default: proxy.sock beside the service socket)")
    .option("--no-tls", "the proxy speaks plain HTTP only (Codex in ChatGPT mode needs TLS: the proxy's local CA, $AUTHCTL_HOME/proxy-ca)")
    .option("--json", "print the proxy's socket and URL as JSON once listening")
    .addOption(new Option("--await-unlock").hideHelp())
    .action((opts: ServeOptions) => runServe(f, opts));
  // `serve` has a --json of its own, which commander hands to it even after a subcommand: merge it back.
  serve
    .command("status")
    .description("whether the service runs, its socket and its proxy's")
    .option("--json", "print JSON")
    .action((_opts, cmd: Command) => runServeStatus(f, cmd.optsWithGlobals()));
  serve
    .command("stop")
    .description("stop the service of this home")
    .option("--json", "print JSON: stopped (and the pid it stopped)")
    .action((_opts, cmd: Command) => runServeStop(f, cmd.optsWithGlobals()));
  auditOptions(serve.command("log").description("the audit log (same as `authctl audit`)")).action((_opts, cmd: Command) => runAudit(f, cmd.optsWithGlobals()));
  return serve;
}
