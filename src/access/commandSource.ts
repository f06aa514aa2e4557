import type { Authctl } from "../context.js";
import { runBoundedCommand, runBoundedCommandAsync, stderrNote, type BoundedCommand, type CommandOutcome } from "../core/boundedCommand.js";
import { AUTHCTL_SECRET_ENV, pickEnv } from "../core/env.js";
import { SecretSourceError } from "../core/errors.js";
import type { SecretSource } from "../roster/sourceSchema.js";
import { describeCommand, type CommandSourcePayload } from "../credentials/commandSource.js";

/** A key, token or password fits in far less; more means the command printed something else. */
export const MAX_SOURCE_OUTPUT_BYTES = 64 * 1024;


export { commandPreview, describeCommand, type CommandSourcePayload } from "../credentials/commandSource.js";

/** How to run a command source and whether to cache it: a stored row's payload or the roster's `source`. */
export type CommandSourceSpec = Pick<CommandSourcePayload, "command" | "timeout_ms" | "cache_ttl_s" | "origin">;

/** A resolved command source: `key` is the command's trimmed stdout. */
export interface CommandSecretPayload extends Pick<CommandSourcePayload, "type" | "command" | "timeout_ms"> {
  key: string;
}

/**
 * Runs a secret command now: no shell, stdin closed, its process group stopped at its timeout,
 * stdout bounded. Its trimmed stdout is the secret; a failure names the provider, the command and
 * its exit, timeout or size, and shows its last stderr lines (with anything it printed on stdout
 * hidden from them), never its stdout.
 */
export function runSecretCommand(context: Authctl, provider: string, source: Pick<SecretSource, "command" | "timeout_ms">): string {
  return secretFrom(runBoundedCommand(secretCommand(context, source)), provider, source);
}

/** `runSecretCommand` without blocking the event loop (the service: others keep being answered meanwhile). */
export async function runSecretCommandAsync(context: Authctl, provider: string, source: Pick<SecretSource, "command" | "timeout_ms">): Promise<string> {
  return secretFrom(await runBoundedCommandAsync(secretCommand(context, source)), provider, source);
}

function secretCommand(context: Authctl, source: Pick<SecretSource, "command" | "timeout_ms">): BoundedCommand {
  const [file, ...args] = source.command;
  const env = pickEnv(context.env, (name) => !AUTHCTL_SECRET_ENV.includes(name));
  return { file: file!, args, env, timeoutMs: source.timeout_ms, maxStdoutBytes: MAX_SOURCE_OUTPUT_BYTES };
}

function secretFrom(outcome: CommandOutcome, provider: string, source: Pick<SecretSource, "command" | "timeout_ms">): string {
  const file = source.command[0];
  const failed = (why: string) =>
    new SecretSourceError(`${provider}: the secret command \`${describeCommand(source.command)}\` ${why}; its stdout is not shown (it may hold the secret)${stderrNote(outcome)}`);
  if (outcome.kind === "timeout") throw failed(`did not finish within ${source.timeout_ms} ms (timeout_ms): it and every process it started were stopped`);
  if (outcome.kind === "overflow") throw failed(`printed more than ${MAX_SOURCE_OUTPUT_BYTES} bytes and was stopped`);
  if (outcome.kind === "not-started") {
    throw failed(outcome.code === "ENOENT" ? `could not start: ${file} is not installed or not on PATH` : `could not start (${outcome.code})`);
  }
  if (outcome.kind === "signal") throw failed(`was killed by ${outcome.signal}`);
  if (outcome.status !== 0) throw failed(`exited with status ${outcome.status}`);
  const secret = outcome.stdout.trim();
  if (!secret) throw failed("printed nothing");
  return secret;
}

