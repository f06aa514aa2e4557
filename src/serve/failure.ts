import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ErrorCode } from "../access/protocol.js";
import type { z } from "zod";
import type { TokenRecord } from "./tokens.js";

/** Who sent a request: the holder of the store key, of a capability token, or nobody known. */
export type Caller = { kind: "admin" } | { kind: "token"; token: TokenRecord } | { kind: "anonymous" };

/** A failure the handler wants answered with this HTTP status and error code (and audited). */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: z.infer<typeof ErrorCode>,
    message: string,
    readonly fixCommand?: string,
  ) {
    super(message);
  }
}


/**
 * Where a detached daemon's stderr goes: its own failure to start (a socket path too long, a lock
 * held) is only ever written there, and the CLI that started it shows it from there.
 */
export const daemonLogPath = (home: string) => join(home, "serve.log");

/** Why a detached daemon that exited failed to start: its last `authctl:` lines, else its last lines. */
export function daemonStartFailure(logPath: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logPath, "utf8").slice(-4_000);
  } catch {
    return undefined;
  }
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const own = lines.filter((l) => l.startsWith("authctl: ")).map((l) => l.slice("authctl: ".length));
  const reason = (own.length > 0 ? own : lines.slice(-3)).join("; ");
  return reason || undefined;
}
