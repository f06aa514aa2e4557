import { Command, CommanderError } from "commander";
import { MissingCredentialsError } from "../core/errors.js";
import { EXIT, exitCodeOf, messageOf } from "./exitCodes.js";
import { createFactory, type Factory } from "./factory.js";
import { helpLayout, helpOutput, withExamples } from "./help.js";
import { type IOStreams, err, out } from "./io.js";
import { VERSION } from "./version.js";

type CommandBuilder = (f: Factory) => Command;

/**
 * Every command: its name and where its builder lives, one line each (to add a command, add a
 * line). Only the command being run is imported: each command file's imports load only when it
 * runs, so `creds list` never pays for the login layer and `--help` alone loads them all.
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<CommandBuilder>]> = [
  ["auth", async () => (await import("./commands/auth.js")).authCommand],
  ["key", async () => (await import("./commands/key.js")).keyCommand],
  ["creds", async () => (await import("./commands/creds.js")).credsCommand],
  ["providers", async () => (await import("./commands/providers.js")).providersCommand],
  ["status", async () => (await import("./commands/status.js")).statusCommand],
  ["session", async () => (await import("./commands/session.js")).sessionCommand],
  ["image", async () => (await import("./commands/image.js")).imageCommand],
  ["run", async () => (await import("./commands/run.js")).runCommand],
  ["serve", async () => (await import("./commands/serve.js")).serveCommand],
  ["proxy", async () => (await import("./commands/proxy.js")).proxyCommand],
  ["audit", async () => (await import("./commands/audit.js")).auditCommand],
  ["container-args", async () => (await import("./commands/container-args.js")).containerArgsCommand],
  ["token", async () => (await import("./commands/token.js")).tokenCommand],
  ["init", async () => (await import("./commands/init.js")).initCommand],
  ["inject", async () => (await import("./commands/inject.js")).injectCommand],
  ["unlock", async () => (await import("./commands/unlock.js")).unlockCommand],
  ["lock", async () => (await import("./commands/unlock.js")).lockCommand],
  ["git-credential", async () => (await import("./commands/git-credential.js")).gitCredentialCommand],
  ["setup-git", async () => (await import("./commands/setup-git.js")).setupGitCommand],
  ["completion", async () => (await import("./commands/completion.js")).completionCommand],
  ["__complete", async () => (await import("./commands/completion.js")).completeNamesCommand],
  ["doctor", async () => (await import("./commands/doctor.js")).doctorCommand],
  ["store", async () => (await import("./commands/store.js")).storeCommand],
];

/**
 * The program with every command, or with only `only` when it names one (what runCli builds to run
 * it). `writeErr`: where commander's own messages go (under --json they are held back for the JSON error).
 */
export async function buildProgram(f: Factory, writeErr: (s: string) => void = (s) => f.io.stderr.write(s), only?: string): Promise<Command> {
  const program = new Command("authctl")
    .description("One place for every login of your stack: vendor CLIs in containers, API keys, device flows.")
    .version(VERSION, "-V, --version", "print the version (also: authctl -v, authctl version)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput(helpOutput(f.io, writeErr));
  program.configureHelp({ ...helpLayout(f.io), sortSubcommands: false });
  const wanted = COMMANDS.some(([name]) => name === only) ? COMMANDS.filter(([name]) => name === only) : COMMANDS;
  for (const build of await Promise.all(wanted.map(([, load]) => load()))) program.addCommand(build(f));
  program.command("version").description("print the version").action(() => out(f.io, VERSION));
  withExamples(program, f.io, [
    ["log in with a vendor's own CLI, in a container", "authctl auth claude"],
    ["store an API key, typed at a hidden prompt", "authctl key anthropic"],
    ["run a command with the credentials in its environment", "authctl run -- npm test"],
    ["which logins work", "authctl status"],
  ]);
  // addCommand does not pass these down as .command() does.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().configureOutput(helpOutput(f.io, writeErr)).configureHelp(helpLayout(f.io));
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
    const args = rootArgv(argv);
    await (await buildProgram(f, writeErr, args[0])).parseAsync(args, { from: "user" });
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
