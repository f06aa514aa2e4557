import type { ContextStreams, Env } from "../context.js";

/** The CLI's streams (whether they are terminals: colour and prompts only on a TTY) and its environment. */
export interface IOStreams extends ContextStreams {
  env: Env;
  /** Where a project file is looked for; none (tests' in-memory streams): no project file applies. */
  cwd?: string;
}

export function systemIO(): IOStreams {
  let cwd: string | undefined;
  try {
    cwd = process.cwd();
  } catch {
    // A directory removed under the shell: no project file applies.
  }
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, ...(cwd === undefined ? {} : { cwd }) };
}

export const stdinIsTTY = (io: IOStreams) => Boolean(io.stdin.isTTY);

export function colorEnabled(io: IOStreams, stream: "stdout" | "stderr" = "stdout"): boolean {
  return Boolean(io[stream].isTTY) && io.env.NO_COLOR === undefined && io.env.TERM !== "dumb";
}

export function out(io: IOStreams, line = ""): void {
  io.stdout.write(line + "\n");
}

export function err(io: IOStreams, line: string): void {
  io.stderr.write(line + "\n");
}

export function printJson(io: IOStreams, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function bold(io: IOStreams, text: string): string {
  return colorEnabled(io) ? `\u001b[1m${text}\u001b[22m` : text;
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd());
}

/** A broken user roster file leaves the rest working: say which file was left out and why. */
export function warnSkippedRoster(io: IOStreams, roster: { skipped: readonly { file: string; message: string }[] }): void {
  for (const e of roster.skipped) err(io, `authctl: warning: skipped roster file ${e.file}: ${e.message.replace(`roster: ${e.file}: `, "")}`);
}
