import type { Command, HelpConfiguration, OutputConfiguration } from "commander";
import { type IOStreams, bold, colorEnabled } from "./io.js";

/** No help line is wider than this, however wide the terminal: long lines are hard to read. */
export const HELP_MAX_WIDTH = 100;
const PIPE_WIDTH = 80;

function helpWidth(stream: IOStreams["stdout"]): number {
  const columns = stream.isTTY ? (stream as { columns?: number }).columns : undefined;
  return Math.min(columns ?? PIPE_WIDTH, HELP_MAX_WIDTH);
}

/** Where commander writes and how wide it wraps, from the CLI's streams (not `process`'s, which tests replace). */
export function helpOutput(io: IOStreams, writeErr: (s: string) => void): OutputConfiguration {
  return {
    writeOut: (s) => io.stdout.write(s),
    writeErr,
    getOutHelpWidth: () => helpWidth(io.stdout),
    getErrHelpWidth: () => helpWidth(io.stderr),
    getOutHasColors: () => colorEnabled(io, "stdout"),
    getErrHasColors: () => colorEnabled(io, "stderr"),
  };
}

/**
 * Subcommands listed by name and arguments (their options are in their own help), so the
 * description column keeps room to wrap on an 80-column terminal; titles in bold on a colour one.
 */
export function helpLayout(io: IOStreams): HelpConfiguration {
  return {
    minWidthToWrap: 30,
    subcommandTerm: (cmd) => [cmd.name(), ...cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? "..." : ""}>` : `[${a.name()}${a.variadic ? "..." : ""}]`))].join(" "),
    styleTitle: (title) => bold(io, title),
  };
}

/** One example: what it does, then the command line. */
export type Example = readonly [what: string, line: string];

/** Ends `command`'s help with an Examples: section (each line short enough for an 80-column terminal). */
export function withExamples<C extends Command>(command: C, io: IOStreams, examples: readonly Example[]): C {
  return command.addHelpText("after", () => ["", bold(io, "Examples:"), ...examples.flatMap(([what, line]) => [`  # ${what}`, `  $ ${line}`])].join("\n"));
}
