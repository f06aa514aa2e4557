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

