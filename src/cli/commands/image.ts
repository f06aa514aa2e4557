import { Command } from "commander";
import type { Factory } from "../factory.js";
import { out, printJson } from "../io.js";

export async function runImageBuild(f: Factory, key: string, opts: { base?: string; json?: boolean } = {}): Promise<void> {
  const { ensureAuthImage } = await import("../../logins/container/images.js");
  const engine = await (await f.context()).engine();
  const tag = await ensureAuthImage(engine, key, (line) => f.io.stderr.write(line.endsWith("\n") ? line : line + "\n"), {
    base: opts.base,
  });
  if (opts.json) return printJson(f.io, { key, image: tag });
  out(f.io, tag);
}

export function imageCommand(f: Factory): Command {
  const image = new Command("image").description("manage the login container image");
  image
    .command("build")
    .description("build and tag images/<key> (tag from its content), with progress")
    .argument("[key]", "image key under images/", "auth")
    .option("--base <ref>", "image to build FROM (a local Debian 12 image with node >= 20); default: the Containerfile's")
    .option("--json", "print {key, image} (the built tag); progress stays on stderr")
    .action((key: string, opts: { base?: string; json?: boolean }) => runImageBuild(f, key, opts));
  return image;
}
