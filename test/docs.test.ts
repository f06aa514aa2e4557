import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { cliReference, referenceProgram } from "../src/cli/reference.js";
import { REPO } from "./helpers/env.js";

/**
 * Issue 19.3: the CLI reference is generated from the command definitions, and every command line
 * the docs show names commands and flags that exist.
 */
const docFiles = ["README.md", ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))];

/**
 * `authctl …` invocations in code: fenced blocks and inline code spans, one command line each. A
 * block fenced as ```text shows what a program printed, not what to type, and is not read.
 */
export function documentedInvocations(markdown: string): Array<{ line: number; words: string[] }> {
  const found: Array<{ line: number; words: string[] }> = [];
  let fenced = false;
  let output = false;
  markdown.split("\n").forEach((text, index) => {
    const fence = /^\s*```(\w*)/.exec(text);
    if (fence) {
      fenced = !fenced;
      output = fenced && fence[1] === "text";
      return;
    }
    if (output) return;
    const spans = fenced ? [text.replace(/(^|\s)#.*$/, "")] : [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    for (const span of spans) {
      for (const m of span.matchAll(/(?:^|[\s$(|;&])authctl((?:\s+[^\s|;&)#]+)+)/g)) {
        const words = m[1]!.trim().split(/\s+/);
        const end = words.findIndex((w) => w === "--" || w.startsWith("#") || w === "…" || w.startsWith("<command"));
        found.push({ line: index + 1, words: end < 0 ? words : words.slice(0, end) });
      }
    }
  });
  return found;
}

/** Why `words` (after `authctl`) names no real command or flag, or undefined when it does. */
function problemWith(program: Command, words: string[]): string | undefined {
  let command = program;
  let path = "authctl";
  let takesValue = false;
  for (const word of words) {
    if (takesValue || /^[[<]/.test(word)) {
      takesValue = false;
      continue;
    }
    if (word.startsWith("-")) {
      const [flag, value] = word.split("=");
      if (flag === "-h" || flag === "--help" || (command === program && (flag === "-V" || flag === "--version"))) continue;
      const option = command.options.find((o) => o.long === flag || o.short === flag);
      if (!option) return `no option ${flag} on \`${path}\``;
      takesValue = value === undefined && (option.required || option.optional);
      continue;
    }
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (sub) {
      command = sub;
      path = `${path} ${word}`;
      continue;
    }
    if (command === program) return `no command \`authctl ${word}\``;
    if (command.commands.length && !command.registeredArguments.length) return `no command \`${path} ${word}\``;
  }
  return undefined;
}

describe("docs (issue 19.3)", () => {
  it("docs/cli.md is what `npm run docs` generates from the command definitions", async () => {
    const onDisk = readFileSync(join(REPO, "docs/cli.md"), "utf8");
    expect(onDisk, "docs/cli.md is stale: run `npm run docs`").toBe(await cliReference());
  });

  it("every authctl command line in the README and docs/ names commands and flags that exist", async () => {
    const program = await referenceProgram();
    const problems = docFiles.flatMap((file) =>
      documentedInvocations(readFileSync(join(REPO, file), "utf8")).flatMap(({ line, words }) => {
        const problem = problemWith(program, words);
        return problem ? [`${file}:${line}: authctl ${words.join(" ")}: ${problem}`] : [];
      }),
    );
    expect(problems).toEqual([]);
  });

  it("the checker catches an unknown flag and an unknown command (it can fail)", async () => {
    const program = await referenceProgram();
    const lines = documentedInvocations("```sh\nauthctl run --projekt foo -- npm test\nauthctl versions\n```\nthen `authctl creds list --json`");
    expect(lines.map(({ words }) => problemWith(program, words))).toEqual(["no option --projekt on `authctl run`", "no command `authctl versions`", undefined]);
  });
});
