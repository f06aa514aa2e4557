import { Command } from "commander";
import type { Factory } from "../factory.js";
import { out, printJson, table, warnSkippedRoster } from "../io.js";

export async function runProviders(f: Factory, opts: { json?: boolean }): Promise<void> {
  const roster = await f.roster();
  warnSkippedRoster(f.io, roster);
  const { declaredClis, missingCliHint } = await import("../../logins/container/images.js");
  // A container login needs its CLI in the image: said here, not by runc at `auth` time.
  const loginCli = (p: { host_flow?: unknown; oauth?: { command: string[]; image: string } }) => {
    if (!p.oauth || p.host_flow) return null;
    const clis = declaredClis(p.oauth.image);
    return { cli: p.oauth.command[0]!, inAuthImage: clis ? clis.includes(p.oauth.command[0]!) : null };
  };
  const providers = roster.list().map((p) => ({
    name: p.name,
    label: p.label,
    kind: p.kind,
    modes: p.modes,
    envVar: p.api_key?.env_var ?? null,
    keyUrl: p.api_key?.key_url ?? null,
    prefixes: p.api_key?.prefixes ?? [],
    containerLogin: p.modes.includes("oauth") ? loginCli(p) : null,
  }));
  if (opts.json) return printJson(f.io, providers);
  const rows = [["NAME", "LABEL", "KIND", "MODES", "ENV"]];
  // A mode the auth image cannot run is marked in the table and explained under it: part of the
  // listing (stdout), not a warning every listing repeats on stderr.
  const lacking = (p: (typeof providers)[number]) => p.containerLogin?.inAuthImage === false;
  for (const p of providers) rows.push([p.name, p.label, p.kind, p.modes.map((m) => (m === "oauth" && lacking(p) ? "oauth*" : m)).join(","), p.envVar ?? ""]);
  for (const line of table(rows, f.io)) out(f.io, line);
  for (const p of providers.filter(lacking)) {
    out(f.io, `* ${p.name}: its OAuth login needs the \`${p.containerLogin!.cli}\` CLI, which authctl's auth image does not have: ${missingCliHint(p.containerLogin!.cli)}`);
  }
}

export function providersCommand(f: Factory): Command {
  return new Command("providers")
    .description("list the providers authctl knows and how each logs in")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => runProviders(f, opts));
}
