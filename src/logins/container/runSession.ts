import { spawn, type ChildProcess } from "node:child_process";
import { holdSignal, interruption } from "../../core/abort.js";
import { CaptureError } from "../../core/errors.js";
import type { AuthUi } from "../../ui/ui.js";
import type { AuthSession, CaptureSummary } from "./session.js";

export interface RunSessionOptions {
  ui?: AuthUi;
  /** Aborting removes the container at once (no 10 s stop wait) and the temp dir, then throws `InterruptedError`. */
  signal?: AbortSignal;
}

/**
 * Runs `session.argv` with this terminal, then captures. The session is always cleaned up; a
 * failed login keeps whatever credential was stored before.
 */
export async function runSession(session: AuthSession, options: RunSessionOptions = {}): Promise<CaptureSummary> {
  const { ui, signal } = options;
  ui?.show(session.banner);
  if (signal?.aborted) {
    // Stopped before the engine was started: nothing can be half-created, so none is started.
    await session.cleanup();
    throw interruption(signal);
  }
  // Plain spawn, not execa: this is the CLI's hot path and execa costs ~100 ms to import.
  const child = spawn(session.argv[0]!, session.argv.slice(1), { stdio: "inherit" });
  let running = true;
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("exit", (code, sig) => resolve({ code: code ?? (sig ? 128 : null) }));
  }).finally(() => (running = false));
  const release = holdSignal(signal, () => void stopEngineRun(session, child, () => running));
  try {
    const result = await exited;
    if (signal?.aborted) throw interruption(signal);
    if (result.error) throw new CaptureError(`could not start the login container: ${result.error.message}`);
    if (result.code !== 0) {
      throw new CaptureError(
        `the ${session.title} exited with status ${result.code}; nothing was stored (any earlier ${session.credentialSet}:${session.provider} credential is kept)`,
      );
    }
    return await session.capture();
  } finally {
    await session.cleanup();
    release();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long `<engine> run` gets to notice its container was removed before it is killed. */
const CLIENT_GRACE_MS = 5_000;

/**
 * Ends an interrupted `<engine> run` by removing its container, not by killing the client: a
 * client killed while its create request is in flight lets the engine finish the create after
 * our cleanup (docker then keeps a `Created` container forever). So the labelled container is
 * removed until the client, whose container is gone, exits by itself; only a client that is stuck
 * is killed.
 */
async function stopEngineRun(session: AuthSession, child: ChildProcess, running: () => boolean): Promise<void> {
  const deadline = Date.now() + CLIENT_GRACE_MS;
  while (running() && Date.now() < deadline) {
    await session.removeContainer().catch(() => false);
    if (running()) await sleep(100);
  }
  if (running()) child.kill("SIGKILL");
}
