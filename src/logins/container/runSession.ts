import { spawn } from "node:child_process";
import { CaptureError, InterruptedError } from "../../core/errors.js";
import type { AuthSession, CaptureSummary } from "./session.js";
import type { AuthUi } from "../../ui/ui.js";

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs `session.argv` with this terminal, then captures. SIGINT/SIGTERM/SIGHUP remove the
 * container at once (no 10 s stop wait) and the temp dir, and end in `InterruptedError`.
 * The session is always cleaned up; a failed login keeps whatever credential was stored before.
 */
export async function runSession(session: AuthSession, ui?: AuthUi): Promise<CaptureSummary> {
  ui?.show(session.banner);
  let interruptedBy: NodeJS.Signals | undefined;
  // Plain spawn, not execa: this is the CLI's hot path and execa costs ~100 ms to import.
  const child = spawn(session.argv[0]!, session.argv.slice(1), { stdio: "inherit" });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 : null) }));
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy) return;
    interruptedBy = signal;
    // Removing the container ends `<engine> run`; the kill covers a run that has not started it yet.
    void session.cleanup().catch(() => {});
    child.kill("SIGTERM");
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const result = await exited;
    if (interruptedBy) throw new InterruptedError(interruptedBy);
    if (result.error) throw new CaptureError(`could not start the login container: ${result.error.message}`);
    if (result.code !== 0) {
      throw new CaptureError(
        `the ${session.title} exited with status ${result.code}; nothing was stored (any earlier ${session.credentialSet}:${session.provider} credential is kept)`,
      );
    }
    return await session.capture();
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    await session.cleanup();
  }
}
