import { HttpExchangeError } from "./errors.js";

/**
 * Reads `stream` to its end as one buffer, refusing more than `limit` bytes: at the first byte over,
 * the stream is destroyed (a peer sending an endless body costs at most `limit` of memory) and
 * the promise rejects with `tooLarge(limit)` (default: an `HttpExchangeError` "too_large").
 */
export function readBody(
  stream: NodeJS.ReadableStream & { destroy(error?: Error): unknown },
  limit: number,
  tooLarge: (limit: number) => Error = (max) => new HttpExchangeError("too_large", `the body is larger than ${max} bytes`),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size <= limit) return void chunks.push(buf);
      done = true;
      stream.off("data", onData);
      reject(tooLarge(limit));
      stream.destroy();
    };
    stream.on("data", onData);
    stream.once("end", () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    stream.once("error", (error: Error) => {
      if (!done) reject(error);
      done = true;
    });
    stream.once("close", () => {
      // Closed before its end (a peer that hung up mid-body) without an error event.
      if (!done) reject(Object.assign(new Error("the connection closed before the body ended"), { code: "ECONNRESET" }));
      done = true;
    });
  });
}
