import { UsageError } from "../core/errors.js";

const MAX_REQUEST_BYTES = 64 * 1024;

/** git's request: up to a blank line (a person typing it) or the end of stdin (git closes it). */
export async function readCredentialRequest(stdin: AsyncIterable<unknown>): Promise<string> {
  let text = "";
  for await (const chunk of stdin) {
    text += Buffer.isBuffer(chunk) ? chunk.toString("utf8") : String(chunk);
    if (text.length > MAX_REQUEST_BYTES) throw new UsageError(`git credential request larger than ${MAX_REQUEST_BYTES} bytes`);
    if (/(^|\n)\r?\n/.test(text)) break;
  }
  return text;
}

/**
 * git's credential helper protocol: `key=value` lines, a blank line or the end ends them. Only the
 * single-valued attributes are kept (the last one wins, as in git); `key[]` lists (capability[],
 * wwwauth[]) are what git offers newer helpers and are not needed to answer.
 */
export function parseCredentialRequest(text: string): Map<string, string> {
  const request = new Map<string, string>();
  for (const line of text.split("\n")) {
    const clean = line.replace(/\r$/, "");
    if (clean === "") break;
    const eq = clean.indexOf("=");
    if (eq <= 0) throw new UsageError(`git credential request: a line without key=value (${JSON.stringify(clean.slice(0, 20))}…); git writes key=value lines, a blank line ends them`);
    const key = clean.slice(0, eq);
    if (!key.endsWith("[]")) request.set(key, clean.slice(eq + 1));
  }
  return request;
}

/**
 * The answer git reads. A newline or NUL inside a value would start an attribute of the value's
 * choosing (a token ending in "\nhost=…"), so such a value is refused, named but never shown.
 */
export function formatCredentialResponse(fields: ReadonlyArray<readonly [string, string]>): string {
  for (const [key, value] of fields) {
    if (/[\n\0]/.test(value)) throw new UsageError(`git credential answer: the ${key} holds a newline or NUL, which git's protocol cannot carry; store it again without one`);
  }
  return fields.map(([key, value]) => `${key}=${value}\n`).join("");
}
