import { Command } from "commander";
import type { Factory } from "../factory.js";
import { out } from "../io.js";

export async function runImageBuild(f: Factory, key: string, opts: { base?: string } = {}): Promise<void> {
  const { ensureAuthImage } = await import("../../logins/container/images.js");
  const engine = await (await f.context()).engine();
  const tag = await ensureAuthImage(engine, key, (line) => f.io.stderr.write(line.endsWith("\n") ? line : line + "\n"), {
    base: opts.base,
  });
  out(f.io, tag);
}

export function imageCommand(f: Factory): Command {
  const image = new Command("image").description("manage the login container image");
  image
    .command("build")
    .description("build and tag images/<key> (tag from its content), with progress")
    .argument("[key]", "image key under images/", "auth")
    .option("--base <ref>", "image to build FROM (a local Debian 12 image with node >= 20); default: the Containerfile's")
    .action((key: string, opts: { base?: string }) => runImageBuild(f, key, opts));
  return image;
}
