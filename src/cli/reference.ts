import type { Command, Option } from "commander";
import { PassThrough } from "node:stream";
import { buildProgram } from "./program.js";
import { createFactory } from "./factory.js";

/**
 * The program as the docs see it: built from the same command definitions `--help` prints, with
 * streams that go nowhere and no store opened (builders only capture the factory).
 */
export function referenceProgram(): Promise<Command> {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
  return buildProgram(createFactory(io, new AbortController().signal));
}

/** Every command below `root` with its full name (`authctl proxy revoke`), depth first. */
export function commandsOf(root: Command, prefix = root.name()): Array<{ name: string; command: Command }> {
  return root.commands.flatMap((c) => {
    const name = `${prefix} ${c.name()}`;
    return [{ name, command: c }, ...commandsOf(c, name)];
  });
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function optionRow(o: Option): string {
  const fallback = o.defaultValue === undefined || o.defaultValue === false ? "" : ` (default: ${JSON.stringify(o.defaultValue)})`;
  return `| \`${cell(o.flags)}\` | ${cell(o.description)}${cell(fallback)} |`;
}

function section(name: string, command: Command): string[] {
  const lines = [`## ${name}`, "", command.description(), "", "```", `${name} ${command.usage()}`.trimEnd(), "```", ""];
  const args = command.registeredArguments;
  if (args.length) {
    lines.push("| argument | meaning |", "|---|---|");
    for (const a of args) lines.push(`| \`${a.required ? `<${a.name()}>` : `[${a.name()}]`}${a.variadic ? "…" : ""}\` | ${cell(a.description)} |`);
    lines.push("");
  }
  const options = command.options.filter((o) => !o.hidden);
  if (options.length) {
    lines.push("| option | meaning |", "|---|---|", ...options.map(optionRow), "");
  }
  return lines;
}

/** docs/cli.md: one section per command, generated so the reference and `--help` cannot drift. */
export async function cliReference(program?: Command): Promise<string> {
  const header = [
    "# CLI reference",
    "",
    "Generated from the command definitions by `npm run docs` (test/docs.test.ts fails when it is stale).",
    "Every command takes `--help`. Exit codes: 0 ok, 1 error, 2 usage, 3 missing credentials (with the",
    "command that fixes it), 4 no container engine, 127 command not found (`run`), 130 interrupted.",
    "",
  ];
  const body = commandsOf(program ?? (await referenceProgram())).flatMap(({ name, command }) => (command.commands.length && !command.options.length && !command.registeredArguments.length ? [] : section(name, command)));
  return [...header, ...body].join("\n").trimEnd() + "\n";
}
