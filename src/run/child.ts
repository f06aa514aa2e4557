import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { Authctl } from "../context.js";
import { holdSignal, interruption } from "../core/abort.js";
import { AUTHCTL_SECRET_ENV, pickEnv } from "../core/env.js";
import { CommandNotStartedError } from "../core/errors.js";
import type { Grant } from "./grants.js";
import { SecretMasker } from "./mask.js";

/** Variables a child of `run` never inherits: with them it could open the whole store itself (its own socket and token come in `extra`). */
const WITHHELD = [...AUTHCTL_SECRET_ENV, "AUTHCTL_SOCKET"];

export interface RunChildOptions {
  context: Authctl;
  argv: readonly string[];
  grants: readonly Grant[];
  /** Conceal the granted secrets in the child's output when it goes to a pipe or file (default true). */
  mask?: boolean;
  /** Set after the grants (AUTHCTL_SOCKET, AUTHCTL_TOKEN of a minted token). */
  extraEnv?: Record<string, string>;
  signal?: AbortSignal;
}

/** The child's environment: the context's env without authctl's keys, plus every granted secret. */
export function childEnvironment(env: Authctl["env"], grants: readonly Grant[], extra: Record<string, string> = {}): Record<string, string> {
  const out = pickEnv(env, (name) => !WITHHELD.includes(name));
  for (const grant of grants) for (const name of grant.envNames) out[name] = grant.secret;
  return { ...out, ...extra };
}

const fdOf = (stream: unknown) => (typeof (stream as { fd?: unknown } | undefined)?.fd === "number" ? (stream as { fd: number }).fd : undefined);

/**
 * Runs `argv` with the granted secrets in its environment and nothing on disk; resolves with its
 * exit code (128+n when a signal ended it). A stop on `signal` is forwarded to the child, and
 * authctl waits for it to exit.
 */
export async function runChild(options: RunChildOptions): Promise<number> {
  const { context, argv, grants } = options;
  const io = context.io;
  // The child's capability token reads the store as far as its grants go: concealed like them.
  const secrets = [...grants.map((g) => g.secret), ...(options.extraEnv?.AUTHCTL_TOKEN ? [options.extraEnv.AUTHCTL_TOKEN] : [])];
  const masks = (stream: Writable & { isTTY?: boolean }) => options.mask !== false && secrets.length > 0 && !stream.isTTY;
  // A real file descriptor is handed over as is (no copy through authctl) unless its output is masked.
  const output = (stream: (Writable & { isTTY?: boolean }) | undefined) => (!stream ? "ignore" : !masks(stream) && fdOf(stream) !== undefined ? stream : "pipe");
  const input = !io ? "ignore" : (io.stdinFd ?? (fdOf(io.stdin) !== undefined ? io.stdin : "pipe"));
  const stdio: StdioOptions = [input, output(io?.stdout), output(io?.stderr)];

  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { stdio, env: childEnvironment(context.env, grants, options.extraEnv) });
  } catch (error) {
    throw new CommandNotStartedError(`cannot run ${JSON.stringify(argv[0])}: ${(error as Error).message}`);
  }
  const copies: Promise<void>[] = [];
  const relay = (from: Readable | null, to: (Writable & { isTTY?: boolean }) | undefined) => {
    if (!from || !to) return;
    const source = masks(to) ? from.pipe(new SecretMasker(secrets)) : from;
    source.pipe(to, { end: false });
    copies.push(finished(source).catch(() => {}));
  };
  relay(child.stdout, io?.stdout);
  relay(child.stderr, io?.stderr);
  if (child.stdin && io) {
    io.stdin.pipe(child.stdin);
    child.stdin.on("error", () => {}); // the child may exit without reading its input
  }

  const release = holdSignal(options.signal, () => {
    const name = options.signal ? interruption(options.signal).signal : "SIGTERM";
    child.kill(name.startsWith("SIG") ? (name as NodeJS.Signals) : "SIGTERM");
  });
  try {
    const [code, signalName] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(new CommandNotStartedError(`cannot run ${JSON.stringify(argv[0])}: ${error.code === "ENOENT" ? "command not found" : (error.code ?? error.message)}`)),
      );
      child.once("close", (c, s) => resolve([c, s]));
    });
    await Promise.all(copies);
    if (io && child.stdin) io.stdin.unpipe(child.stdin);
    return code ?? 128 + (signalName ? (constants.signals[signalName] ?? 0) : 0);
  } finally {
    release();
  }
}
