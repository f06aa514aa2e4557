import { Command, CommanderError } from "commander";
import { MissingCredentialsError } from "../core/errors.js";
import { auditCommand } from "./commands/audit.js";
import { authCommand } from "./commands/auth.js";
import { containerArgsCommand } from "./commands/container-args.js";
import { credsCommand } from "./commands/creds.js";
import { imageCommand } from "./commands/image.js";
import { keyCommand } from "./commands/key.js";
import { providersCommand } from "./commands/providers.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { proxyCommand } from "./commands/proxy.js";
import { sessionCommand } from "./commands/session.js";
import { statusCommand } from "./commands/status.js";
import { tokenCommand } from "./commands/token.js";
import { lockCommand, unlockCommand } from "./commands/unlock.js";
import { gitCredentialCommand } from "./commands/git-credential.js";
import { setupGitCommand } from "./commands/setup-git.js";
import { EXIT, exitCodeOf, messageOf } from "./exitCodes.js";
import { createFactory, type Factory } from "./factory.js";
import { type IOStreams, err, out } from "./io.js";

const VERSION = "0.1.0";

/**
 * Each command file builds its commander command and calls its `run<Name>`; commands that touch
 * containers or MSAL import their implementation only when they run, so read-only commands
 * (creds, providers, status) stay fast and small.
 */
const COMMANDS: ReadonlyArray<(f: Factory) => Command> = [
  authCommand,
  keyCommand,
  credsCommand,
  providersCommand,
  statusCommand,
  sessionCommand,
  imageCommand,
  runCommand,
  serveCommand,
  proxyCommand,
  auditCommand,
  containerArgsCommand,
  tokenCommand,
  unlockCommand,
  lockCommand,
  gitCredentialCommand,
  setupGitCommand,
];

/** `writeErr`: where commander's own messages go (under --json they are held back for the JSON error). */
export function buildProgram(f: Factory, writeErr: (s: string) => void = (s) => f.io.stderr.write(s)): Command {
  const program = new Command("authctl")
    .description("One place for every login of your stack: vendor CLIs in containers, API keys, device flows.")
    .version(VERSION, "-V, --version", "print the version (also: authctl -v, authctl version)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => f.io.stdout.write(s),
      writeErr,
    });
  program.configureHelp({ sortSubcommands: false });
  for (const build of COMMANDS) program.addCommand(build(f));
  program.command("version").description("print the version").action(() => out(f.io, VERSION));
  // addCommand does not pass these down as .command() does.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => f.io.stdout.write(s), writeErr });
    cmd.showHelpAfterError("(run with --help for usage)");
    cmd.commands.forEach(inherit);
  };
  program.commands.forEach(inherit);
  return program;
}

/**
 * No arguments is a request for help; a lone `-v` asks for the version. `-v` is not a root option:
 * commander would then read it inside a subcommand's option value too (`--image -v/:/host` printed
 * the version and exited 0 instead of refusing the image).
 */
function rootArgv(argv: string[]): string[] {
  if (argv.length === 0) return ["--help"];
  return argv.length === 1 && argv[0] === "-v" ? ["--version"] : argv;
}

/**
 * Runs one authctl command line with the given streams and stop signal and returns the exit
 * code; never a stack trace unless AUTHCTL_DEBUG=1. Tests call this in-process.
 */
export async function runCli(argv: string[], io: IOStreams, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const f = createFactory(io, signal);
  // Only authctl's own arguments: a `--json` after `--` belongs to the command `run` starts.
  const json = argv.slice(0, argv.includes("--") ? argv.indexOf("--") : undefined).includes("--json");
  let held = "";
  const writeErr = json ? (s: string) => void (held += s) : undefined;
  try {
    // Bare `authctl` asked for nothing wrong: its help is the answer, on stdout.
    await buildProgram(f, writeErr).parseAsync(rootArgv(argv), { from: "user" });
    return f.exitCode;
  } catch (error) {
    const code = exitCodeOf(error);
    if (json && code !== EXIT.ok) io.stderr.write(JSON.stringify({ error: jsonError(error, code) }) + "\n");
    else {
      io.stderr.write(held);
      const message = messageOf(error);
      if (message !== undefined) err(io, `authctl: ${message}`);
    }
    if (code === EXIT.error && io.env.AUTHCTL_DEBUG === "1" && error instanceof Error) err(io, error.stack ?? "");
    return code;
  } finally {
    f.close();
  }
}

/** Stable codes for scripts, one per exit code (the class decides the exit code). */
const ERROR_CODES: Record<number, string> = {
  [EXIT.usage]: "usage",
  [EXIT.missing]: "missing_credentials",
  [EXIT.noEngine]: "no_engine",
  [EXIT.notStarted]: "not_started",
  [EXIT.interrupted]: "interrupted",
};

function jsonError(error: unknown, exitCode: number): { code: string; message: string; fix?: string } {
  const message = error instanceof CommanderError ? error.message.replace(/^error: /, "") : (messageOf(error) ?? String(error));
  const fix = error instanceof MissingCredentialsError ? { fix: error.fixCommand } : {};
  return { code: ERROR_CODES[exitCode] ?? "error", message, ...fix };
}
