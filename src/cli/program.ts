import { Command } from "commander";
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
];

export function buildProgram(f: Factory): Command {
  const program = new Command("authctl")
    .description("One place for every login of your stack: vendor CLIs in containers, API keys, device flows.")
    .version(VERSION, "-v, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => f.io.stdout.write(s),
      writeErr: (s) => f.io.stderr.write(s),
    });
  program.configureHelp({ sortSubcommands: false });
  for (const build of COMMANDS) program.addCommand(build(f));
  program.command("version").description("print the version").action(() => out(f.io, VERSION));
  // addCommand does not pass these down as .command() does.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => f.io.stdout.write(s), writeErr: (s) => f.io.stderr.write(s) });
    cmd.showHelpAfterError("(run with --help for usage)");
    cmd.commands.forEach(inherit);
  };
  program.commands.forEach(inherit);
  return program;
}

/**
 * Runs one authctl command line with the given streams and stop signal and returns the exit
 * code; never a stack trace unless AUTHCTL_DEBUG=1. Tests call this in-process.
 */
export async function runCli(argv: string[], io: IOStreams, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const f = createFactory(io, signal);
  try {
    // Bare `authctl` asked for nothing wrong: its help is the answer, on stdout.
    await buildProgram(f).parseAsync(argv.length === 0 ? ["--help"] : argv, { from: "user" });
    return f.exitCode;
  } catch (error) {
    const message = messageOf(error);
    if (message !== undefined) err(io, `authctl: ${message}`);
    const code = exitCodeOf(error);
    if (code === EXIT.error && io.env.AUTHCTL_DEBUG === "1" && error instanceof Error) err(io, error.stack ?? "");
    return code;
  } finally {
    f.close();
  }
}
