import { InterruptedError, UsageError } from "../core/errors.js";
import type { Provider } from "../roster/schema.js";

/** The streams a prompt needs; the CLI's IOStreams and process streams both fit. */
export interface PromptStreams {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stderr: NodeJS.WritableStream;
}

/**
 * Reads one line from a terminal with echo off. Raw mode, so the secret is never drawn on
 * screen nor kept in a readline history; Ctrl-C rejects with InterruptedError (SIGINT). Echo goes off
 * before the question (which may span lines: put any "paste the key" hint in it) is written:
 * a paste that starts on the first line shown must find echo already off.
 */
export function promptHidden(io: PromptStreams, question: string): Promise<string> {
  const stdin = io.stdin;
  return new Promise((resolve, reject) => {
    stdin.setRawMode?.(true);
    io.stderr.write(question);
    let value = "";
    const finish = (error?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off("data", onData);
      io.stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return finish();
        if (ch === "\u0003") return finish(new InterruptedError("SIGINT"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.resume();
    stdin.on("data", onData);
  });
}

/** The hidden prompt for a provider's API key, hint included (so it is written after echo is off). */
export function apiKeyQuestion(entry: Pick<Provider, "label" | "api_key">): string {
  const hint = entry.api_key?.key_url ? ` (get one at ${entry.api_key.key_url})` : "";
  // Labels of API services already end in "API" ("Anthropic API").
  const what = /\bAPI$/.test(entry.label) ? `${entry.label} key` : `${entry.label} API key`;
  return `Paste the ${what}${hint}; it will not be shown.\n${entry.api_key?.env_var ?? "API key"}: `;
}

/** Reads all of stdin (for `--stdin`); drops one trailing newline, as `echo` adds it. */
export async function readAllStdin(io: PromptStreams, limitBytes = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > limitBytes) throw new UsageError(`stdin is larger than ${limitBytes} bytes`);
    chunks.push(buf);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new UsageError("stdin is not valid UTF-8 text; nothing was stored (was a binary file piped in?)");
  }
  return text.replace(/\r?\n$/, "");
}

/** Reads one visible line (menu choices). */
export async function promptLine(io: PromptStreams, question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: Boolean(io.stdin.isTTY) });
  const ended = new Promise<never>((_, reject) => {
    rl.once("close", () => reject(new UsageError("no answer: stdin ended before a choice was made (pass --mode oauth or --mode api_key)")));
    // On a terminal readline reads Ctrl-C as a key (no process signal); left alone it would only pause.
    rl.once("SIGINT", () => reject(new InterruptedError("SIGINT")));
  });
  ended.catch(() => {});
  try {
    return (await Promise.race([rl.question(question), ended])).trim();
  } finally {
    rl.close();
  }
}
