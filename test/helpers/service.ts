import type { Authctl } from "../../src/context.js";
import { runService, type ServiceStarted, type StartServiceOptions } from "../../src/serve/daemon.js";

/** The service of `context`'s home, running in this process until `stop()`. */
export async function listeningService(context: Authctl, options: Omit<StartServiceOptions, "context" | "signal" | "onListening"> = {}) {
  const controller = new AbortController();
  let listening!: (up: { socketPath: string; started: ServiceStarted }) => void;
  const ready = new Promise<{ socketPath: string; started: ServiceStarted }>((r) => (listening = r));
  const stopped = runService({ ...options, context, signal: controller.signal, onListening: (socketPath, started) => listening({ socketPath, started }) });
  const up = await Promise.race([ready, stopped.then(() => Promise.reject(new Error("the service stopped before it listened")))]);
  const stop = async () => {
    controller.abort();
    await stopped;
  };
  return { ...up, stopped, stop };
}
