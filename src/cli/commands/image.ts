import type { Command } from "commander";
import { type IOStreams, out } from "../io.js";

export function registerImage(program: Command, io: IOStreams): void {
  const image = program.command("image").description("manage the login container image");
  image
    .command("build")
    .description("build and tag images/<key> (tag from its content), with progress")
    .argument("[key]", "image key under images/", "auth")
    .action(async (key: string) => {
      const { detectEngine } = await import("../../engine/index.js");
      const { ensureAuthImage } = await import("../../logins/container/images.js");
      const tag = await ensureAuthImage(await detectEngine(io.env), key, (line) => io.stderr.write(line.endsWith("\n") ? line : line + "\n"));
      out(io, tag);
    });
}
