import type { ContextStreams, Env } from "../context.js";
import { relativeTime } from "../core/clock.js";
import { stdinIsTerminal } from "../core/terminal.js";

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
  // Node builds process.stdin when first read (a file's or /dev/null's loads fs streams, readline
  // and fs/promises): `token` never reads it, and `run` hands its child fd 0 itself.
  return { get stdin() { return process.stdin; }, stdinFd: 0, stdout: process.stdout, stderr: process.stderr, env: process.env, ...(cwd === undefined ? {} : { cwd }) };
}

export const stdinIsTTY = (io: IOStreams) => stdinIsTerminal(io);

/** `authctl creds list | head -1`: a reader that closes early is not an error worth a stack trace (entry points only). */
export function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
}

/**
 * Colour on a terminal, never when NO_COLOR is set (no-color.org: present and not empty);
 * FORCE_COLOR (not 0) turns it on off a terminal too. `--json` never calls the styling.
 */
export function colorEnabled(io: IOStreams, stream: "stdout" | "stderr" = "stdout"): boolean {
  if (io.env.NO_COLOR) return false;
  const force = io.env.FORCE_COLOR;
  if (force !== undefined && force !== "" && force !== "0" && force !== "false") return true;
  return Boolean(io[stream].isTTY) && io.env.TERM !== "dumb";
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

const SGR = { bold: [1, 22], green: [32, 39], yellow: [33, 39], red: [31, 39] } as const;
export type Style = keyof typeof SGR;

/** `text` in a style when stdout takes colour (colorEnabled), as it is otherwise. */
export function paint(io: IOStreams, style: Style, text: string): string {
  const [on, off] = SGR[style];
  return colorEnabled(io) ? `\u001b[${on}m${text}\u001b[${off}m` : text;
}

export const bold = (io: IOStreams, text: string) => paint(io, "bold", text);

/** A login's state in its colour: green works, yellow soon needs care, red does not work. */
export function stateColor(io: IOStreams, state: string, text = state): string {
  if (state === "valid" || state === "ok") return paint(io, "green", text);
  if (state.startsWith("expiring") || state === "unknown" || state === "skipped") return paint(io, "yellow", text);
  if (/^(expired|missing|locked|rejected|failed|revoked)/.test(state)) return paint(io, "red", text);
  return text;
}

// Widths count what shows: a coloured cell is as wide as its text.
const shown = (cell: string) => (cell.includes("\u001b") ? cell.replace(/\u001b\[[0-9;]*m/g, "").length : cell.length);

/** Left-aligned columns, the last not padded; with `io`, the first row is the header, in bold on a colour terminal. */
export function table(rows: string[][], io?: IOStreams): string[] {
  const styled = io ? rows.map((r, i) => (i === 0 ? r.map((cell) => bold(io, cell)) : r)) : rows;
  const widths = styled[0]?.map((_, i) => Math.max(...styled.map((r) => shown(r[i] ?? "")))) ?? [];
  return styled.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat(Math.max(0, widths[i]! - shown(cell))))).join("  ").trimEnd());
}

/** A time for a table: local and readable (`2026-12-06 23:30:00`), with how far from now (`in 3h`, `2m ago`). */
export function timeText(at: Date | null | undefined, now: number, opts: { relativeOnly?: boolean } = {}): string {
  if (!at) return "-";
  const relative = relativeTime(at, now);
  if (opts.relativeOnly) return relative;
  const pad = (n: number) => String(n).padStart(2, "0");
  const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  return `${local} (${relative})`;
}

/** A broken user roster file leaves the rest working: say which file was left out and why. */
export function warnSkippedRoster(io: IOStreams, roster: { skipped: readonly { file: string; message: string }[] }): void {
  for (const e of roster.skipped) err(io, `authctl: warning: skipped roster file ${e.file}: ${e.message.replace(`roster: ${e.file}: `, "")}`);
}
