import { EngineError } from "../core/errors.js";
import { httpCall, type HttpReply } from "../core/http.js";
import type { ContainerFilter, EngineBackend } from "./backend.js";
import { labelsOf } from "./labels.js";

const TIMEOUT_MS = 60_000;
/** A container list of thousands fits many times over; an engine (or whatever listens there) sending more is cut off. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/**
 * One Docker-compatible API call over the unix socket. Plain node:http rather than dockerode:
 * these four calls are all authctl needs, and dockerode costs ~185 ms to import on every login.
 */
function call(socketPath: string, method: string, path: string): Promise<HttpReply> {
  return httpCall({ socketPath, method, path, body: "", timeoutMs: TIMEOUT_MS, maxBytes: MAX_REPLY_BYTES });
}

const messageOf = (reply: HttpReply) => {
  try {
    return String((JSON.parse(reply.body) as { message?: string }).message ?? reply.body).trim();
  } catch {
    return reply.body.trim();
  }
};

/** Docker-compatible API (docker or podman's compat service). */
export function apiBackend(socketPath: string): EngineBackend {
  const failure = (what: string, detail: string, cause?: unknown) =>
    new EngineError(`container engine API (${socketPath}): ${what}: ${detail}`, { cause });
  const send = async (what: string, method: string, path: string): Promise<HttpReply> => {
    try {
      return await call(socketPath, method, path);
    } catch (err) {
      throw failure(what, err instanceof Error ? err.message : String(err), err);
    }
  };
  const found = async (what: string, path: string): Promise<boolean> => {
    const reply = await send(what, "GET", path);
    if (reply.status === 200) return true;
    if (reply.status === 404) return false;
    throw failure(what, messageOf(reply));
  };
  const enc = encodeURIComponent;

  return {
    async removeContainer(name) {
      const what = `cannot remove container ${name}`;
      // podman 4.3's compat DELETE ?force=true still waits the 10 s stop timeout when PID 1 ignores
      // SIGTERM (and takes no timeout parameter): SIGKILL first, then remove.
      const killed = await send(what, "POST", `/containers/${enc(name)}/kill?signal=SIGKILL`);
      if (killed.status === 404) return;
      // 409 / 500 on kill: not running (created, exited, being removed); the remove below decides.
      const removed = await send(what, "DELETE", `/containers/${enc(name)}?force=true`);
      if (removed.status === 404 || removed.status < 300) return; // `--rm` containers remove themselves once killed
      throw failure(what, messageOf(removed));
    },
    containerExists: (name) => found(`inspecting container ${name}`, `/containers/${enc(name)}/json`),
    imageExists: (ref) => found(`inspecting image ${ref}`, `/images/${enc(ref)}/json`),
    async imageLabels(ref) {
      const what = `inspecting image ${ref}`;
      const reply = await send(what, "GET", `/images/${enc(ref)}/json`);
      if (reply.status === 404) return undefined;
      if (reply.status !== 200) throw failure(what, messageOf(reply));
      return labelsOf((JSON.parse(reply.body) as { Config?: { Labels?: unknown } }).Config?.Labels);
    },
    async listContainers({ namePrefix, label }: ContainerFilter) {
      const filters = label ? `&filters=${enc(JSON.stringify({ label: [label] }))}` : "";
      const reply = await send("cannot list containers", "GET", `/containers/json?all=true${filters}`);
      if (reply.status !== 200) throw failure("cannot list containers", messageOf(reply));
      return (JSON.parse(reply.body) as Array<{ Names?: string[] }>)
        .map((c) => (c.Names?.[0] ?? "").replace(/^\//, ""))
        .filter((n) => n && (!namePrefix || n.startsWith(namePrefix)));
    },
  };
}
