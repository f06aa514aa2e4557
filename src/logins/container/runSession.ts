import { spawn, type ChildProcess } from "node:child_process";
import { holdSignal, interruption, throwIfAborted } from "../../core/abort.js";
import { CaptureError } from "../../core/errors.js";
import type { AuthUi } from "../../ui/ui.js";
import { loadCaptureModules, type AuthSession, type CaptureSummary } from "./session.js";

export interface RunSessionOptions {
  ui?: AuthUi;
  /** Aborting removes the container at once (no 10 s stop wait) and the temp dir, then throws `InterruptedError`. */
  signal?: AbortSignal;
}

/**
 * Runs the session's container with this terminal, then captures. The session is always cleaned
 * up; a failed login keeps whatever credential was stored before.
 *
 * Where a daemon creates the container (docker, podman talking to a service), `session.argv`
 * (`<engine> run …`) is run in two steps, `create` then `start -ai`, so that a stop can never race
 * the create: the create runs outside the terminal's process group (a Ctrl-C does not kill it
 * mid-request) and is always awaited, and only then is anything removed. A client killed while its
 * create request is in flight would let the daemon finish that create after cleanup, and docker
 * never removes a `Created` container by itself. Local podman creates the container in the client
 * process itself (and holds off a stop until the create is written), so once that client has
 * exited nothing is still being created: `argv` runs as it is, one engine process instead of two
 * (~100 ms each), and the cleanup after the client's exit removes whatever a stop left.
 */
export async function runSession(session: AuthSession, options: RunSessionOptions = {}): Promise<CaptureSummary> {
  const { ui, signal } = options;
  ui?.show(session.banner);
  let attached: { child: ChildProcess; running: () => boolean } | undefined;
  const release = holdSignal(signal, () => {
    if (attached) void stopEngineRun(session, attached.child, attached.running);
  });
  try {
    throwIfAborted(signal);
    const [binary, verb, ...runArgs] = session.argv;
    let argv = session.argv;
    if (verb === "run" && !session.clientCreatesContainer) {
      // A stop that lands while the client is being forked (before it leaves our process group)
      // kills it before it runs: nothing was created, and the stop is what gets reported.
      await createContainer(binary!, runArgs, session.engineEnv).catch((err: unknown) => {
        throwIfAborted(signal);
        throw err;
      });
      throwIfAborted(signal);
      argv = [binary!, "start", "-a", "-i", session.containerName];
    }
    // Plain spawn, not execa: this is the CLI's hot path and execa costs ~100 ms to import.
    const child = spawn(argv[0]!, argv.slice(1), { stdio: "inherit", env: session.engineEnv });
    loadCaptureModules().catch(() => undefined); // a failed load is capture's own error
    let running = true;
    attached = { child, running: () => running };
    const result = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once("error", (error) => resolve({ code: null, error }));
      child.once("exit", (code, sig) => resolve({ code: code ?? (sig ? 128 : null) }));
    }).finally(() => (running = false));
    // A Ctrl-C reaches the client and authctl at once; the client's exit can be seen first. A
    // client that succeeded was not stopped: the login is captured without waiting.
    if (result.code !== 0) await new Promise((r) => setTimeout(r, 20));
    if (signal?.aborted) throw interruption(signal);
    if (result.error) throw new CaptureError(`could not start the login container: ${result.error.message}`);
    if (result.code !== 0) {
      throw new CaptureError(
        `the ${session.title} exited with status ${result.code}; nothing was stored (any earlier ${session.credentialSet}:${session.provider} credential is kept)`,
      );
    }
    // The client has exited: the cleanup's look for a container (an engine call, a process without
    // an API socket) runs while the capture reads, seals and stores.
    const removal = session.removeExitedContainer();
    removal.catch(() => undefined);
    try {
      return await session.capture().catch((err: unknown) => {
        throwIfAborted(signal); // a login cut short by a stop is reported as the stop
        throw err;
      });
    } finally {
      await removal.catch(() => undefined);
    }
  } finally {
    await session.cleanup();
    release();
  }
}

const STDERR_TAIL = 2_000;

/** `<engine> create <run args>` in its own process group, awaited to the end even when stopped. */
async function createContainer(binary: string, runArgs: string[], env: Record<string, string>): Promise<void> {
  const child = spawn(binary, ["create", ...runArgs], { stdio: ["ignore", "ignore", "pipe"], detached: true, env });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_TAIL)));
  const result = await new Promise<{ code: number | null; signal?: string | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  if (result.error) throw new CaptureError(`could not start the login container: ${result.error.message}`);
  if (result.code !== 0) {
    const why = stderr.trim().split("\n").at(-1) || (result.signal ? `killed by ${result.signal}` : `exit ${result.code}`);
    throw new CaptureError(`could not create the login container: ${why}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long the attached client gets to notice its container was removed before it is killed. */
const CLIENT_GRACE_MS = 5_000;

/**
 * Ends an interrupted login by removing its container, not by killing the client, so the client
 * exits by itself once its container is gone. A client still there after the grace is told to stop
 * (podman finishes a create it is writing first, and the cleanup removes that container); only one
 * that is stuck after that too is killed.
 */
async function stopEngineRun(session: AuthSession, child: ChildProcess, running: () => boolean): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const deadline = Date.now() + CLIENT_GRACE_MS;
    while (running() && Date.now() < deadline) {
      await session.removeContainer().catch(() => false);
      if (running()) await sleep(100);
    }
    if (running()) child.kill(signal);
  }
}
