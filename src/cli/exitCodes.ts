import { CommanderError } from "commander";
import {
  AuthctlError,
  CommandNotStartedError,
  InterruptedError,
  InvalidNameError,
  MissingCredentialsError,
  NoEngineError,
  UnknownProviderError,
  UsageError,
} from "../core/errors.js";

export const EXIT = { ok: 0, error: 1, usage: 2, missing: 3, noEngine: 4, notStarted: 127, interrupted: 130 } as const;

/** The one place an error class becomes an exit code (the codes: docs/cli.md). */
const BY_CLASS: ReadonlyArray<[new (...args: never[]) => Error, number]> = [
  [UsageError, EXIT.usage],
  [UnknownProviderError, EXIT.usage],
  [InvalidNameError, EXIT.usage],
  [MissingCredentialsError, EXIT.missing],
  [NoEngineError, EXIT.noEngine],
  // What shells and env(1) answer for a command they cannot start.
  [CommandNotStartedError, EXIT.notStarted],
  [InterruptedError, EXIT.interrupted],
];

export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    const ok = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code);
    return ok ? EXIT.ok : EXIT.usage;
  }
  for (const [type, code] of BY_CLASS) if (error instanceof type) return code;
  const signal = (error as { signal?: string } | null)?.signal;
  if (signal === "SIGINT" || signal === "SIGTERM") return EXIT.interrupted;
  return EXIT.error;
}

/** The message printed for an error, or undefined when commander already printed it. */
export function messageOf(error: unknown): string | undefined {
  if (error instanceof CommanderError) return undefined;
  if (error instanceof AuthctlError) return error.message;
  if (exitCodeOf(error) === EXIT.interrupted) return "interrupted";
  return `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
}
