import { Command } from "commander";
import type { Factory } from "../factory.js";
import { out, printJson } from "../io.js";

export async function runImageBuild(f: Factory, key: string, opts: { base?: string; json?: boolean } = {}): Promise<void> {
  const { ensureAuthImage } = await import("../../logins/container/images.js");
  const context = await f.context();
  const engine = await context.engine();
  const tag = await ensureAuthImage(engine, key, (line) => f.io.stderr.write(line.endsWith("\n") ? line : line + "\n"), {
    base: opts.base,
    home: context.home,
    record: true,
  });
  const { imageSettings, configPath } = await import("../../core/config.js");
  const chosen = imageSettings(context.home, key).image;
  if (chosen !== undefined && chosen !== tag) {
    f.io.stderr.write(`note: logins run ${chosen} (images.${key}.image in ${configPath(context.home)}), not this build; remove that line to use it\n`);
  }
  if (opts.json) return printJson(f.io, { key, image: tag });
  out(f.io, tag);
}

export function imageCommand(f: Factory): Command {
  const image = new Command("image").description("manage the login container image");
  image
    .command("build")
    .description("build and tag images/<key> (tag from its content), with progress; never pulls")
    .argument("[key]", "image key under images/", "auth")
    .option("--base <ref>", "local image to build FROM (Debian 12 with node >= 20), recorded in $AUTHCTL_HOME/config.yaml for later logins; default: the recorded one, else the Containerfile's")
    .option("--json", "print {key, image} (the built tag); progress stays on stderr")
    .action((key: string, opts: { base?: string; json?: boolean }) => runImageBuild(f, key, opts));
  return image;
}
