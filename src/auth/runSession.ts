import { execa } from "execa";
import { CaptureError, InterruptedError } from "../errors.js";
import type { AuthSession, CaptureSummary } from "./session.js";
import type { AuthUi } from "./ui.js";

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs `session.argv` with this terminal, then captures. SIGINT/SIGTERM/SIGHUP remove the
 * container at once (no 10 s stop wait) and the temp dir, and end in `InterruptedError`.
 * The session is always cleaned up; a failed login keeps whatever credential was stored before.
 */
export async function runSession(session: AuthSession, ui?: AuthUi): Promise<CaptureSummary> {
  ui?.show(session.banner);
  let interruptedBy: NodeJS.Signals | undefined;
  const child = execa(session.argv[0]!, session.argv.slice(1), { stdio: "inherit", reject: false });
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy) return;
    interruptedBy = signal;
    // Removing the container ends `<engine> run`; the kill covers a run that has not started it yet.
    void session.cleanup().catch(() => {});
    child.kill("SIGTERM");
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const result = await child;
    if (interruptedBy) throw new InterruptedError(interruptedBy);
    if (result.failed && result.exitCode === undefined) {
      throw new CaptureError(`could not start the login container: ${result.shortMessage}`);
    }
    if (result.exitCode !== 0) {
      throw new CaptureError(
        `the ${session.title} exited with status ${result.exitCode}; nothing was stored (any earlier ${session.credentialSet}:${session.provider} credential is kept)`,
      );
    }
    return await session.capture();
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    await session.cleanup();
  }
}
