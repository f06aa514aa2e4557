import type { Command, Option } from "commander";

/** What a value on the command line is, so a shell can offer the right candidates. */
export type ValueKind = "provider" | "set" | "any";

export interface CompletionOption {
  /** `--set` and, when there is one, `-s`. */
  flags: string[];
  /** The kind of value the option takes; undefined for a flag. */
  takes?: ValueKind;
  description: string;
}

/** One command of the tree (`[]` is the root, `["creds", "list"]` a subcommand). */
export interface CompletionNode {
  path: string[];
  description: string;
  subcommands: string[];
  options: CompletionOption[];
  /** The kind of the first positional argument, if it has one. */
  argument?: ValueKind;
}

// Names, not a table per command: a new command taking `<provider>` or `--set` completes them at once.
const KIND_BY_NAME: Record<string, ValueKind> = { provider: "provider", providers: "provider", set: "set", sets: "set" };

const kindOf = (name: string): ValueKind => KIND_BY_NAME[name] ?? "any";

function optionOf(o: Option): CompletionOption {
  const flags = [o.long, o.short].filter((f): f is string => typeof f === "string");
  const takes = o.required || o.optional ? kindOf((o.long ?? "").replace(/^--/, "")) : undefined;
  return { flags, ...(takes ? { takes } : {}), description: o.description };
}

const hidden = (c: Command) => (c as unknown as { _hidden?: boolean })._hidden === true;

/** Every visible command of `program`, depth first, with its options (plus --help) and subcommands. */
export function completionTree(program: Command, path: string[] = []): CompletionNode[] {
  const subs = program.commands.filter((c) => !hidden(c));
  const options = program.options.filter((o) => !o.hidden).map(optionOf);
  options.push({ flags: ["--help", "-h"], description: "display help" });
  const first = program.registeredArguments[0];
  const node: CompletionNode = {
    path,
    description: program.description(),
    subcommands: subs.map((c) => c.name()),
    options,
    ...(first ? { argument: kindOf(first.name()) } : {}),
  };
  return [node, ...subs.flatMap((c) => completionTree(c, [...path, c.name()]))];
}
