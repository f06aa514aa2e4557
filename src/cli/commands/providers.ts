import type { Command } from "commander";
import type { Roster } from "../../roster/load.js";
import { cliRoster } from "../factory.js";
import { type IOStreams, out, printJson, table } from "../io.js";

export function runProviders(io: IOStreams, roster: Roster, opts: { json?: boolean }): void {
  const providers = roster.list().map((p) => ({
    name: p.name,
    label: p.label,
    kind: p.kind,
    modes: p.modes,
    envVar: p.api_key?.env_var ?? null,
    keyUrl: p.api_key?.key_url ?? null,
    prefixes: p.api_key?.prefixes ?? [],
  }));
  if (opts.json) return printJson(io, providers);
  const rows = [["NAME", "LABEL", "KIND", "MODES", "ENV"]];
  for (const p of providers) rows.push([p.name, p.label, p.kind, p.modes.join(","), p.envVar ?? ""]);
  for (const line of table(rows)) out(io, line);
}

export function registerProviders(program: Command, io: IOStreams): void {
  program
    .command("providers")
    .description("list the providers authctl knows and how each logs in")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => runProviders(io, await cliRoster(io), opts));
}
