import { PassThrough, Readable } from "node:stream";
import type { IOStreams } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/program.js";

/** In-memory streams for running a command in-process (not terminals: plain output, no prompts). */
export function memoryIO(env: Record<string, string>, input?: string | Buffer) {
  const collect = () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    return { stream, text: () => text };
  };
  const stdout = collect();
  const stderr = collect();
  const io: IOStreams = { stdin: Readable.from(input === undefined ? [] : [Buffer.isBuffer(input) ? input : Buffer.from(input)]), stdout: stdout.stream, stderr: stderr.stream, env };
  return { io, stdout: stdout.text, stderr: stderr.text };
}

/** Runs one authctl command line in this process, the way `main.ts` does, and returns what it printed. */
export async function runInProcess(env: Record<string, string>, args: string[], input?: string | Buffer, signal?: AbortSignal) {
  const m = memoryIO(env, input);
  const exitCode = await runCli(args, m.io, signal);
  return { exitCode, stdout: m.stdout(), stderr: m.stderr() };
}
