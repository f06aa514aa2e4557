import { Command, Option } from "commander";
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

/** `authctl serve`: the local credential service in the foreground, until a stop signal. */
export async function runServe(f: Factory, opts: { idleExit?: string; detach?: boolean }): Promise<void> {
  const idleExitMs = opts.idleExit === undefined ? undefined : seconds(opts.idleExit, "--idle-exit") * 1000;
  if (opts.detach) {
    const socketPath = await startDetachedService(f, idleExitMs);
    return out(f.io, socketPath);
  }
  const context = await f.context();
  // Unlock now (a terminal may be asked for the passphrase), not at the first request.
  (await f.unlockedStore()).verifyKey();
  const { runService } = await import("../../serve/daemon.js");
  await runService({
    context,
    signal: f.signal,
    ...(idleExitMs ? { idleExitMs } : {}),
    onListening: (socketPath, { peerCheck }) => {
      err(f.io, `authctl service listening on ${socketPath} (stop: Ctrl-C or \`authctl serve stop\`)`);
      if (!peerCheck.enabled) err(f.io, `authctl: callers' uids are not checked: ${peerCheck.reason}; the capability token is the only line`);
    },
  });
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} takes a whole number of seconds, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Starts `authctl serve` as a detached daemon (same env, so the same key sources) and waits until
 * it answers; returns its socket. Used by `serve --detach` and on demand by `run`.
 */
export async function startDetachedService(f: Factory, idleExitMs?: number): Promise<string> {
  const context = await f.context();
  const { connectService, serviceLocation } = await import("../../serve/daemon.js");
  const args = [CLI_MAIN, "serve", ...(idleExitMs ? ["--idle-exit", String(Math.ceil(idleExitMs / 1000))] : [])];
  const daemon = spawn(process.execPath, args, { detached: true, stdio: "ignore", env: f.io.env });
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
  const { connectService, serviceLocation, runningDaemonPid } = await import("../../serve/daemon.js");
  const where = serviceLocation(context);
  const connected = await connectService(context);
  const status = { running: Boolean(connected), socket: where.socketPath, pid: runningDaemonPid(where.pidFile) ?? null };
  if (opts.json) return printJson(f.io, status);
  for (const line of table([["service", status.running ? "running" : "not running"], ["socket", status.socket], ["pid", String(status.pid ?? "-")]])) out(f.io, line);
  if (!status.running) f.exitCode = 1;
}

export async function runServeStop(f: Factory): Promise<void> {
  const context = await f.context();
  const { serviceLocation, runningDaemonPid } = await import("../../serve/daemon.js");
  const { pidFile } = serviceLocation(context);
  const pid = runningDaemonPid(pidFile);
  if (pid === undefined) return err(f.io, "authctl service is not running");
  process.kill(pid, "SIGTERM");
  for (let waited = 0; waited < 10_000 && runningDaemonPid(pidFile) === pid; waited += 50) await sleep(50);
  err(f.io, `stopped the authctl service (pid ${pid})`);
}

export function serveCommand(f: Factory): Command {
  const serve = new Command("serve")
    .description("the local credential service: a Unix socket that hands out credentials to holders of scoped tokens")
    .option("--detach", "start in the background and print the socket path")
    .addOption(new Option("--idle-exit <seconds>", "stop after this long with no requests and no live tokens"))
    .action((opts) => runServe(f, opts));
  serve.command("status").description("whether the service runs, and its socket").option("--json", "print JSON").action((opts) => runServeStatus(f, opts));
  serve.command("stop").description("stop the service of this home").action(() => runServeStop(f));
  auditOptions(serve.command("log").description("the audit log (same as `authctl audit`)")).action((opts) => runAudit(f, opts));
  return serve;
}
