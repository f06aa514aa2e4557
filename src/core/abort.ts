import { InterruptedError } from "./errors.js";

/**
 * How a stop reaches the library: entry points (the CLI, later the daemon) turn SIGINT/SIGTERM/
 * SIGHUP into `controller.abort(new InterruptedError(signal))`; blocking library calls take the
 * `signal`, clean up and throw `InterruptedError`. A call that must reach a safe point before it
 * stops (a login with a temp dir and a container) holds the signal with `holdSignal`: while it is
 * held, the CLI waits for the call to unwind instead of exiting at once.
 */
export function interruption(signal: AbortSignal): InterruptedError {
  const reason: unknown = signal.reason;
  if (reason instanceof InterruptedError) return reason;
  return new InterruptedError(typeof reason === "string" ? reason : "abort");
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruption(signal);
}

/** How many calls hold each signal now. Listeners are no measure: node adds its own for a timer, a fetch or a question. */
const holds = new WeakMap<AbortSignal, number>();

/** True while a call holds `signal` (see holdSignal): the entry point then aborts it and waits instead of exiting. */
export function isSignalHeld(signal: AbortSignal): boolean {
  return (holds.get(signal) ?? 0) > 0;
}

/** Marks the signal as handled by the caller until the returned release runs (once); `onAbort` may act at once. */
export function holdSignal(signal: AbortSignal | undefined, onAbort: () => void = () => {}): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  holds.set(signal, (holds.get(signal) ?? 0) + 1);
  signal.addEventListener("abort", onAbort, { once: true });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    holds.set(signal, (holds.get(signal) ?? 1) - 1);
    signal.removeEventListener("abort", onAbort);
  };
}
