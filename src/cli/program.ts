import { Command, CommanderError } from "commander";
import { AuthctlError } from "../core/errors.js";
import { registerAuth } from "./commands/auth.js";
import { registerCreds } from "./commands/creds.js";
import { registerImage } from "./commands/image.js";
import { registerKey } from "./commands/key.js";
import { registerProviders } from "./commands/providers.js";
import { registerSession } from "./commands/session.js";
import { registerStatus } from "./commands/status.js";
import { type IOStreams, err } from "./io.js";

export const EXIT = { ok: 0, error: 1, usage: 2, missing: 3, noEngine: 4, interrupted: 130 } as const;

/**
 * Commands that touch containers or MSAL (auth, session, image) import their implementation only
 * when they run, so read-only commands (creds, providers, status) stay fast and small.
 */
const REGISTRARS = [registerAuth, registerKey, registerCreds, registerProviders, registerStatus, registerSession, registerImage];

export function buildProgram(io: IOStreams): Command {
  const program = new Command("authctl")
    .description("One place for every login of your stack: vendor CLIs in containers, API keys, device flows.")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  program.configureHelp({ sortSubcommands: false });
  for (const register of REGISTRARS) {
    register(program, io);
  }
  return program;
}

/** Maps any failure to a message and an exit code; never a stack trace unless AUTHCTL_DEBUG=1. */
export function exitCodeFor(error: unknown, io: IOStreams): number {
  if (error instanceof CommanderError) {
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return EXIT.ok;
    return EXIT.usage; // commander already printed the message
  }
  if (error instanceof AuthctlError) {
    err(io, `authctl: ${error.message}`);
    return error.exitCode;
  }
  const signal = (error as { signal?: string } | null)?.signal;
  if (signal === "SIGINT" || signal === "SIGTERM") {
    err(io, `authctl: interrupted`);
    return EXIT.interrupted;
  }
  err(io, `authctl: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  if (io.env.AUTHCTL_DEBUG === "1" && error instanceof Error) err(io, error.stack ?? "");
  return EXIT.error;
}

export async function runCli(argv: string[], io: IOStreams): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (error) {
    return exitCodeFor(error, io);
  }
}
