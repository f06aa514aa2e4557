import { UsageError } from "../core/errors.js";
import { promptHidden, promptLine, readAllStdin, type PromptStreams } from "./prompt.js";

/**
 * How an interactive login talks to its user. The library never prints: a caller passes a UI,
 * and `terminalUi()` is the one the CLI (and library users who want a terminal flow) pass.
 */
export interface AuthUi {
  /** Informational text (banner, progress). */
  show(text: string): void;
  /** Returns the 0-based index of the chosen option. */
  choose(question: string, options: readonly string[]): Promise<number>;
  /** Reads a secret without echo. */
  promptSecret(question: string): Promise<string>;
}

/** A UI for callers with no streams (a daemon, a script): it shows nothing and cannot ask. */
export const noninteractiveUi: AuthUi = {
  show: () => {},
  choose: () => Promise.reject(new UsageError("this login needs a choice, but there is no terminal to ask on: pass a mode")),
  promptSecret: () => Promise.reject(new UsageError("this login needs a secret typed in, but there is no terminal to ask on")),
};

/** Menus and hidden prompts on the given streams (the CLI's, or the context's); none → `noninteractiveUi`. */
export function terminalUi(streams: PromptStreams | undefined): AuthUi {
  if (!streams) return noninteractiveUi;
  const io = streams;
  return {
    show: (text) => void streams.stderr.write(text.endsWith("\n") ? text : text + "\n"),
    async choose(question, options) {
      const menu = options.map((o, i) => `  ${i + 1}. ${o}`).join("\n");
      for (;;) {
        const answer = await promptLine(io, `${question}\n${menu}\nChoose [1-${options.length}]: `);
        const n = Number(answer);
        if (Number.isInteger(n) && n >= 1 && n <= options.length) return n - 1;
        streams.stderr.write(`Please answer a number from 1 to ${options.length}.\n`);
      }
    },
    async promptSecret(question) {
      return streams.stdin.isTTY ? promptHidden(io, question) : readAllStdin(io);
    },
  };
}
