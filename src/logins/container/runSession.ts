import { spawn } from "node:child_process";
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
  // Plain spawn, not execa: this is the CLI's hot path and execa costs ~100 ms to import.
  const child = spawn(session.argv[0]!, session.argv.slice(1), { stdio: "inherit" });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("exit", (code, sig) => resolve({ code: code ?? (sig ? 128 : null) }));
  });
  const release = holdSignal(signal, () => {
    // Removing the container ends `<engine> run`; the kill covers a run that has not started it yet.
    void session.cleanup().catch(() => {});
    child.kill("SIGTERM");
  });
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
