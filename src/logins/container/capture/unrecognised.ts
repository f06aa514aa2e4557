import type * as z from "zod";
import { CaptureError } from "../../../core/errors.js";
import type { CapturedFile } from "./readFiles.js";

/** Field names of the vendor schemas (vendors/): never secrets, and kept readable in messages. */
const KNOWN_KEYS = new Set([
  "claudeAiOauth", "accessToken", "refreshToken", "expiresAt", "scopes", "subscriptionType",
  "tokens", "access_token", "refresh_token", "id_token", "account_id", "OPENAI_API_KEY", "last_refresh",
  "expiry_date", "token_type", "scope", "oauth_token", "user", "git_protocol", "users",
  "hosts", "token", "api_host", "api_protocol", "is_oauth2", "oauth2_refresh_token", "oauth2_expiry_date",
  "type", "access", "refresh", "expires", "key", "accountId", "resource_url",
]);
const HOSTNAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/**
 * Every string leaf of a parsed file, so an error message can be scrubbed of anything it holds,
 * and every key that is neither a vendor field name nor a hostname (a YAML collection used as a key becomes a string holding the whole collection).
 * Iterative: a 1 MiB file can nest 500,000 levels deep.
 */
function stringLeaves(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) {
        if (!KNOWN_KEYS.has(k) && !HOSTNAME.test(k)) out.push(k);
        stack.push(item);
      }
    }
  }
  return out;
}

/** Belt and braces: no value from the file may reach a message, even via a zod message. */
function scrub(message: string, parsed: unknown): string {
  let out = message;
  for (const leaf of stringLeaves(parsed)) {
    if (leaf.length >= 6 && out.includes(leaf)) out = out.split(leaf).join("[redacted]");
  }
  return out;
}

export function unrecognised(vendor: string, path: string, problem: string, parsed?: unknown): CaptureError {
  return new CaptureError(
    `unrecognised ${vendor} credential file ${path}: ${scrub(problem, parsed)}; nothing was stored`,
  );
}

/** `a.b.0.c: message` for the first few issues; zod messages name types and keys, not values. */
function describeIssues(error: z.ZodError): string {
  const parts = error.issues.slice(0, 3).map((issue) => {
    const where = issue.path.length ? issue.path.map(String).join(".") : "(top level)";
    return `${where}: ${issue.message}`;
  });
  if (error.issues.length > 3) parts.push(`and ${error.issues.length - 3} more problem(s)`);
  return parts.join("; ");
}

export function validate<S extends z.ZodType>(vendor: string, schema: S, parsed: unknown, file: CapturedFile | undefined): z.infer<S> {
  const result = schema.safeParse(parsed);
  if (!result.success) throw unrecognised(vendor, file?.path ?? "(missing)", describeIssues(result.error), parsed);
  return result.data;
}
