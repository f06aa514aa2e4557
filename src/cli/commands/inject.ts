import { closeSync, constants, fchmodSync, openSync, readFileSync, writeSync } from "node:fs";
import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";

export interface InjectOpts {
  in: string;
  out?: string;
  force?: boolean;
}

/**
 * Only this user may read the output: created 0600 with O_EXCL (never over an existing file, nor
 * through a symlink planted at its name) unless `--force`, which truncates it and sets 0600 again.
 */
function writePrivate(file: string, text: string, force: boolean): void {
  const flags = constants.O_WRONLY | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0) | (force ? constants.O_TRUNC : constants.O_EXCL);
  let fd: number;
  try {
    fd = openSync(file, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UsageError(`${file} already exists: authctl inject never writes over a file; remove it, or add --force`);
    if (code === "ELOOP") throw new UsageError(`${file} is a symlink: authctl inject writes secrets only to a plain file`);
    throw new UsageError(`cannot write ${file}: ${code ?? (error as Error).message}`);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** `authctl inject -i TEMPLATE [-o FILE]`: the template with each `{{ authctl://… }}` replaced by its secret. */
export async function runInject(f: Factory, opts: InjectOpts): Promise<void> {
  let template: string;
  try {
    template = readFileSync(opts.in, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read the template ${opts.in}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const context = await f.context();
  await f.unlockedStore();
  const { renderTemplate } = await import("../../access/references.js");
  const { text } = await renderTemplate(context, template);
  if (opts.out === undefined) f.io.stdout.write(text);
  else writePrivate(opts.out, text, opts.force === true);
}

export function injectCommand(f: Factory): Command {
  const command = new Command("inject")
    .description("render a template: each {{ authctl://<set>/<provider>[/<field>] }} becomes that credential's secret (to stdout, or a new 0600 file)")
    .requiredOption("-i, --in <template>", "the template file")
    .option("-o, --out <file>", "write here (created 0600; an existing file is refused unless --force) instead of stdout")
    .option("--force", "overwrite an existing output file (it is set to 0600)")
    .action((opts: InjectOpts) => runInject(f, opts));
  return withExamples(command, f.io, [
    ["render a template ({{ authctl://default/anthropic }}) to a new 0600 file", "authctl inject -i .env.tpl -o .env"],
    ["to stdout", "authctl inject -i config.tpl.yaml"],
  ]);
}
