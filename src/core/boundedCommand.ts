import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pickEnv } from "./env.js";
import { withoutControlChars } from "./mask.js";

const SUPERVISOR = fileURLToPath(new URL("../../resources/supervise-command.mjs", import.meta.url));

/** Between the group's SIGTERM and its SIGKILL. */
const GRACE_MS = 1_000;
const STDERR_TAIL_BYTES = 4096;
const STDERR_TAIL_LINES = 5;
const STDERR_LINE_CHARS = 200;

export interface BoundedCommand {
  file: string;
  args: readonly string[];
  /** The command's whole environment. */
  env: Readonly<Record<string, string | undefined>>;
  timeoutMs: number;
  maxStdoutBytes: number;
}

/** How it ended; `stderrTail` is its last stderr lines, printable and without its stdout (the secret). */
export type CommandOutcome = { stderrTail: string } & (
  | { kind: "exited"; status: number; stdout: string }
  | { kind: "signal"; signal: string }
  | { kind: "timeout" }
  | { kind: "overflow" }
  | { kind: "not-started"; code: string }
);

/** The last lines of stderr, cut and scrubbed; every line the command printed on stdout is hidden from them. */
function tailOf(stderr: string, stdout: string): string {
  let lines = stderr.split(/\r?\n/).filter((l) => l.trim() !== "");
  for (const secret of stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length >= 4)) {
    lines = lines.map((l) => l.split(secret).join("[stdout hidden]"));
  }
  return lines
    .slice(-STDERR_TAIL_LINES)
    .map((l) => withoutControlChars(l.length > STDERR_LINE_CHARS ? `${l.slice(0, STDERR_LINE_CHARS - 1)}…` : l))
    .join("\n");
}

/**
 * Runs a command that prints a secret, synchronously (the store unlocks synchronously): no shell
 * unless `file` is one, stdin closed, stdout bounded, and at `timeoutMs` its whole process group
 * stopped (SIGTERM, then SIGKILL), so a helper it left behind does not outlive it. A supervisor
 * process does the waiting (resources/supervise-command.mjs); the secret passes only through pipes.
 */
export function runBoundedCommand(command: BoundedCommand): CommandOutcome {
  const { request, env, boundMs, maxBuffer } = supervision(command);
  const result = spawnSync(process.execPath, [SUPERVISOR], {
    input: request,
    env,
    encoding: "utf8",
    timeout: boundMs,
    killSignal: "SIGKILL",
    maxBuffer,
    stdio: ["pipe", "pipe", "pipe"],
    windowsHide: true,
  });
  return outcomeOf(result.stdout, () => (result.error ? ((result.error as NodeJS.ErrnoException).code ?? result.error.message) : `supervisor exit ${result.status ?? result.signal}`));
}

/**
 * `runBoundedCommand` without blocking the event loop: for a long-lived process (the service and
 * its proxy) that must keep answering others while one caller's command runs.
 */
export function runBoundedCommandAsync(command: BoundedCommand): Promise<CommandOutcome> {
  const { request, env, boundMs, maxBuffer } = supervision(command);
  return new Promise((resolve) => {
    const supervisor = spawn(process.execPath, [SUPERVISOR], { env, stdio: ["pipe", "pipe", "ignore"], windowsHide: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    const bound = setTimeout(() => {
      failure = "supervisor did not answer";
      supervisor.kill("SIGKILL");
    }, boundMs);
    supervisor.stdout.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBuffer) {
        failure = "supervisor answer too large";
        supervisor.kill("SIGKILL");
      } else chunks.push(chunk);
    });
    supervisor.stdin.on("error", () => undefined); // it died first: its exit says why
    supervisor.once("error", (error: NodeJS.ErrnoException) => (failure = error.code ?? error.message));
    supervisor.once("close", (status, signal) => {
      clearTimeout(bound);
      const stdout = failure ? "" : Buffer.concat(chunks).toString("utf8");
      resolve(outcomeOf(stdout, () => failure ?? `supervisor exit ${status ?? signal}`));
    });
    supervisor.stdin.end(request);
  });
}

/** What both runners hand the supervisor, and how long and how much of it they wait for. */
function supervision(command: BoundedCommand) {
  const env = pickEnv(command.env, () => true);
  const request = { file: command.file, args: command.args, timeoutMs: command.timeoutMs, graceMs: GRACE_MS, maxStdoutBytes: command.maxStdoutBytes, stderrTailBytes: STDERR_TAIL_BYTES };
  return {
    request: JSON.stringify(request),
    env,
    // The supervisor ends on its own by then; this bounds a broken one.
    boundMs: command.timeoutMs + 2 * GRACE_MS + 5_000,
    maxBuffer: 2 * command.maxStdoutBytes + 2 * STDERR_TAIL_BYTES + 1024,
  };
}

/** The supervisor's JSON answer as an outcome; `why` explains a missing or broken answer. */
function outcomeOf(supervisorStdout: string, why: () => string): CommandOutcome {
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(supervisorStdout) as Record<string, unknown>;
  } catch {
    return { kind: "not-started", code: why(), stderrTail: "" };
  }
  const stdout = typeof answer.stdout === "string" ? answer.stdout : "";
  const stderrTail = tailOf(typeof answer.stderrTail === "string" ? answer.stderrTail : "", stdout);
  switch (answer.kind) {
    case "exited":
      return { kind: "exited", status: Number(answer.status), stdout, stderrTail };
    case "signal":
      return { kind: "signal", signal: String(answer.signal), stderrTail };
    case "timeout":
    case "overflow":
      return { kind: answer.kind, stderrTail };
    default:
      return { kind: "not-started", code: String(answer.code), stderrTail };
  }
}

/** The stderr tail as the end of an error message ("" when there was none). */
export function stderrNote(outcome: CommandOutcome): string {
  return outcome.stderrTail ? `; its stderr ended with:\n${outcome.stderrTail.replace(/^/gm, "  | ")}` : "";
}
