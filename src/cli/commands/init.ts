import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { out } from "../io.js";

export interface InitOpts {
  set?: string;
  require?: string;
  env?: string;
  force?: boolean;
}

const list = (text: string | undefined) => text?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];

/**
 * `authctl init`: writes `authctl.yaml` at the repository root (the nearest directory holding
 * `.git`, else here), naming the set this project's commands read and the providers it needs.
 */
export async function runInit(f: Factory, opts: InitOpts): Promise<void> {
  if (!f.io.cwd) throw new UsageError("authctl init: the current directory cannot be read; cd into the project first");
  const context = await f.context();
  const { projectRoot, writeProjectFile } = await import("../../access/projectFile.js");
  const roster = context.roster();
  const require = list(opts.require).map((p) => roster.get(p).name);
  const env: Record<string, string> = {};
  for (const pair of list(opts.env)) {
    const [provider, name] = pair.split("=");
    if (!provider || !name) throw new UsageError(`--env takes provider=VARIABLE pairs, comma-separated (e.g. anthropic=MY_KEY); got a pair without "="`);
    env[roster.get(provider).name] = name;
  }
  const credentialSet = opts.set ?? (context.env.AUTHCTL_SET || "default");
  const file = writeProjectFile(projectRoot(f.io.cwd), { set: credentialSet, require, env }, roster.list(), opts.force === true);
  out(f.io, `wrote ${file}: set ${credentialSet}${require.length ? `, requires ${require.join(", ")}` : ""} (names only; commit it with the code)`);
}

export function initCommand(f: Factory): Command {
  return new Command("init")
    .description("write authctl.yaml at the repository root: the credential set this project's commands read and the providers it needs (names only, never a secret)")
    .option("--set <set>", "the project's credential set (default: $AUTHCTL_SET, else 'default')")
    .option("--require <providers>", "providers the project needs, comma-separated (status checks them)")
    .option("--env <pairs>", "provider=VARIABLE pairs: one more variable `authctl run` exports that provider's secret under here")
    .option("--force", "overwrite an existing authctl.yaml")
    .action((opts: InitOpts) => runInit(f, opts));
}
