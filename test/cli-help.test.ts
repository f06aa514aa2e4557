import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { IOStreams } from "../src/cli/io.js";
import { runCli } from "../src/cli/program.js";
import { commandsOf, referenceProgram } from "../src/cli/reference.js";
import { childEnv, tempHome } from "./helpers/env.js";

const MAX = 100;
/** The commands a newcomer starts from: each shows how it is used. */
const WITH_EXAMPLES = ["auth", "key", "run", "token", "serve", "proxy", "creds", "status", "unlock", "git-credential", "setup-git", "inject"];

/** `authctl <words> --help` as a terminal `columns` wide (or a pipe) shows it. */
async function help(words: string[], columns?: number): Promise<{ code: number; text: string }> {
  const t = tempHome();
  try {
    const stdout = new PassThrough();
    let text = "";
    stdout.on("data", (c: Buffer) => (text += c.toString("utf8")));
    if (columns !== undefined) Object.assign(stdout, { isTTY: true, columns });
    const io: IOStreams = { stdin: Readable.from([]), stdout, stderr: new PassThrough(), env: childEnv(t.home) };
    const code = await runCli([...words, "--help"], io);
    return { code, text };
  } finally {
    t.cleanup();
  }
}

describe("help (the whole command tree)", () => {
  it(`no line of any command's help is over ${MAX} characters, on a wide terminal, a narrow one or a pipe`, async () => {
    const names = [[], ...commandsOf(await referenceProgram()).map(({ name }) => name.split(" ").slice(1))];
    expect(names.length).toBeGreaterThan(30);
    const long: string[] = [];
    for (const words of names) {
      for (const columns of [250, 80, undefined]) {
        const { code, text } = await help(words, columns);
        expect(code, `authctl ${words.join(" ")} --help`).toBe(0);
        expect(text).toContain("Usage: authctl");
        const limit = columns === undefined ? MAX : Math.min(columns, MAX);
        for (const line of text.split("\n")) if (line.length > limit) long.push(`authctl ${words.join(" ")} --help (${columns ?? "pipe"}): ${line.length}: ${line}`);
      }
    }
    expect(long).toEqual([]);
  });

  it("the main commands (and the root) end their help with Examples: of real command lines", async () => {
    const program = await referenceProgram();
    for (const name of ["", ...WITH_EXAMPLES]) {
      const { text } = await help(name ? [name] : []);
      const examples = text.split("\nExamples:\n")[1];
      expect(examples, `authctl ${name} --help has no Examples:`).toBeDefined();
      const lines = examples!.split("\n").filter((l) => l.trim().startsWith("$ authctl") || l.trim().startsWith("$ git"));
      expect(lines.length, `authctl ${name} --help`).toBeGreaterThan(0);
      if (name) expect(lines.some((l) => l.includes(`authctl ${name}`)), `authctl ${name}: an example of itself`).toBe(true);
      // Each example names a command and flags that exist.
      for (const line of lines.filter((l) => l.includes("$ authctl "))) {
        const words = line.replace(/#.*$/, "").trim().split(/\s+/).slice(2);
        let command = program;
        for (const word of words) {
          if (word === "--") break;
          if (word.startsWith("-")) {
            const flag = word.split("=")[0];
            expect(command.options.some((o) => o.long === flag || o.short === flag), `${line}: no ${flag} on ${command.name()}`).toBe(true);
            continue;
          }
          command = command.commands.find((c) => c.name() === word) ?? command;
        }
      }
    }
  });
});
