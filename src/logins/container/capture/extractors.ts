import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { CaptureError } from "../../../core/errors.js";
import type { CaptureSpec } from "../../../roster/schema.js";
import { maskSecret } from "../../../core/mask.js";
import type { CapturedFile } from "./readFiles.js";

/** The secret payload stored for an OAuth capture: the vendor files verbatim plus the tokens. */
export interface OAuthPayload {
  type: "oauth";
  provider: string;
  /** Roster-relative path → exact file text, so the vendor CLI can be handed its file back unchanged. */
  files: Record<string, string>;
  accessToken: string;
  refreshToken?: string;
  account?: string;
}

export interface Extracted {
  payload: OAuthPayload;
  /** Masked access token (SPEC §3). */
  preview: string;
  expiresAt: Date | null;
  account?: string;
}

export interface ExtractedTokens {
  accessToken: string;
  refreshToken?: string;
  account?: string;
}

/** Validates the parsed capture files (same order as the roster lists them) and pulls the tokens out. */
export type Extractor = (parsed: unknown[], files: CapturedFile[]) => ExtractedTokens;

// ---------------------------------------------------------------------------------------------
// Errors

/** Field names of the vendor schemas below: never secrets, and kept readable in messages. */
const KNOWN_KEYS = new Set([
  "claudeAiOauth", "accessToken", "refreshToken", "expiresAt", "scopes", "subscriptionType",
  "tokens", "access_token", "refresh_token", "id_token", "account_id", "OPENAI_API_KEY", "last_refresh",
  "expiry_date", "token_type", "scope", "oauth_token", "user", "git_protocol", "users",
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

function unrecognised(vendor: string, path: string, problem: string, parsed?: unknown): CaptureError {
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

function validate<S extends z.ZodType>(vendor: string, schema: S, parsed: unknown, file: CapturedFile | undefined): z.infer<S> {
  const result = schema.safeParse(parsed);
  if (!result.success) throw unrecognised(vendor, file?.path ?? "(missing)", describeIssues(result.error), parsed);
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Parsing by format

/** `KEY=VALUE` lines (blank lines, `#` comments and an `export ` prefix allowed; quotes stripped). */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new SyntaxError(`line ${i + 1} is not KEY=VALUE`);
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    out[m[1]!] = value;
  }
  return { ...out };
}

/** Parses one capture file; the error names the format and position only (parser messages can quote the text). */
export function parseCaptured(vendor: string, file: CapturedFile): unknown {
  switch (file.format) {
    case "json":
      try {
        return JSON.parse(file.text) as unknown;
      } catch {
        throw unrecognised(vendor, file.path, "not valid JSON");
      }
    case "yaml":
      try {
        return parseYaml(file.text, { prettyErrors: true, maxAliasCount: 50, logLevel: "error" }) as unknown;
      } catch (err) {
        const pos = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : "";
        throw unrecognised(vendor, file.path, `not valid YAML${pos}`);
      }
    case "env":
      try {
        return parseEnv(file.text);
      } catch (err) {
        // parseEnv's own messages carry only a line number.
        throw unrecognised(vendor, file.path, `not a KEY=VALUE file (${err instanceof SyntaxError ? err.message : "unparseable"})`);
      }
    default:
      throw new CaptureError(`capture file ${String((file as CapturedFile).path)} has an unknown format`);
  }
}

// ---------------------------------------------------------------------------------------------
// JWT and expiry

/** Claims of a JWT (the middle segment, base64url JSON), or null when it is not a well-formed JWT. */
export function decodeJwtClaims(token: unknown): Record<string, unknown> | null {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+={0,2}$/.test(parts[1]!)) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as unknown;
    return claims !== null && typeof claims === "object" && !Array.isArray(claims) ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function validDate(ms: number): Date | null {
  if (!Number.isFinite(ms) || ms <= 0) return null;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d;
}

function asNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && /^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v);
  return null;
}

/** Follows a dotted path (`claudeAiOauth.expiresAt`) through objects; undefined when absent. */
export function getPath(value: unknown, dotted: string): unknown {
  let current: unknown = value;
  for (const key of dotted.split(".")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * Reads the expiry the roster points at in the first capture file. Absent, malformed or
 * out-of-range values give null (an unknown expiry), never an error.
 */
export function readExpiry(parsedFirstFile: unknown, expiry: CaptureSpec["expiry"]): Date | null {
  if (!expiry) return null;
  const raw = getPath(parsedFirstFile, expiry.field);
  switch (expiry.unit) {
    case "epoch_ms": {
      const n = asNumber(raw);
      return n === null ? null : validDate(n);
    }
    case "epoch_s": {
      const n = asNumber(raw);
      return n === null ? null : validDate(n * 1000);
    }
    case "iso": {
      if (typeof raw !== "string" || raw.trim() === "") return null;
      return validDate(Date.parse(raw));
    }
    case "jwt_exp": {
      const exp = asNumber(decodeJwtClaims(raw)?.exp);
      return exp === null ? null : validDate(exp * 1000);
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Vendor schemas (VENDORS.md). Unknown extra fields pass through: vendors add fields often.

const nonEmpty = z.string().min(1, "must be a non-empty string");
const optString = z.string().nullish();

export const ClaudeCredentialsSchema = z.looseObject({
  claudeAiOauth: z.looseObject({
    accessToken: nonEmpty,
    refreshToken: optString,
    expiresAt: z.number().nullish(),
    scopes: z.array(z.string()).nullish(),
    subscriptionType: optString,
  }),
});

export const CodexAuthSchema = z
  .looseObject({
    tokens: z
      .looseObject({
        access_token: nonEmpty,
        refresh_token: optString,
        id_token: optString,
        account_id: optString,
      })
      .nullish(),
    OPENAI_API_KEY: z.string().nullish(),
    last_refresh: optString,
  })
  .superRefine((v, ctx) => {
    if (!v.tokens && !(typeof v.OPENAI_API_KEY === "string" && v.OPENAI_API_KEY.length > 0)) {
      ctx.addIssue({ code: "custom", path: [], message: "has neither tokens.access_token nor OPENAI_API_KEY" });
    }
  });

export const GeminiCredsSchema = z.looseObject({
  access_token: nonEmpty,
  refresh_token: optString,
  expiry_date: z.number().nullish(),
  token_type: optString,
  scope: optString,
  id_token: optString,
});

const GhHostSchema = z.looseObject({
  oauth_token: optString,
  user: optString,
  git_protocol: optString,
  users: z.record(z.string(), z.looseObject({ oauth_token: optString }).nullish()).nullish(),
});

export const GhHostsSchema = z
  .record(z.string(), GhHostSchema)
  .refine((hosts) => Object.keys(hosts).length > 0, "lists no host");

function accountFromIdToken(idToken: string | null | undefined): string | undefined {
  const claims = decodeJwtClaims(idToken);
  const email = claims?.email;
  return typeof email === "string" && email.length > 0 ? email : undefined;
}

function tokens(accessToken: string, refreshToken?: string | null, account?: string | null): ExtractedTokens {
  const out: ExtractedTokens = { accessToken };
  if (refreshToken) out.refreshToken = refreshToken;
  if (account) out.account = account;
  return out;
}

const claude: Extractor = (parsed, files) => {
  const data = validate("claude", ClaudeCredentialsSchema, parsed[0], files[0]);
  return tokens(data.claudeAiOauth.accessToken, data.claudeAiOauth.refreshToken);
};

const codex: Extractor = (parsed, files) => {
  const data = validate("codex", CodexAuthSchema, parsed[0], files[0]);
  if (data.tokens) {
    const t = data.tokens;
    return tokens(t.access_token, t.refresh_token, accountFromIdToken(t.id_token) ?? t.account_id);
  }
  return tokens(data.OPENAI_API_KEY as string);
};

const gemini: Extractor = (parsed, files) => {
  const data = validate("gemini", GeminiCredsSchema, parsed[0], files[0]);
  return tokens(data.access_token, data.refresh_token, accountFromIdToken(data.id_token));
};

const gh: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "hosts.yml";
  const hosts = validate("gh", GhHostsSchema, parsed[0], files[0]);
  const host = Object.prototype.hasOwnProperty.call(hosts, "github.com") ? "github.com" : Object.keys(hosts)[0]!;
  const entry = hosts[host]!;
  const user = entry.user ?? undefined;
  const token =
    entry.oauth_token || (user && entry.users && Object.prototype.hasOwnProperty.call(entry.users, user) ? entry.users[user]?.oauth_token : undefined);
  if (!token) {
    throw unrecognised(
      "gh",
      path,
      `${host}.oauth_token: no token in the file (gh may have used a keyring; log in with --insecure-storage)`,
      parsed[0],
    );
  }
  return tokens(token, undefined, user);
};

/** Named extractors the roster's `oauth.capture.extractor` refers to. */
export const EXTRACTORS: Record<string, Extractor> = { claude, codex, gemini, gh };

/**
 * Validates a login's captured files with the roster's extractor and builds the stored payload.
 * Throws `CaptureError` (naming the vendor and the file, never a value) when the files do not
 * have the vendor's shape, so junk is never stored.
 */
export function extract(provider: string, spec: CaptureSpec, files: CapturedFile[]): Extracted {
  const name = spec.extractor;
  const extractor = Object.prototype.hasOwnProperty.call(EXTRACTORS, name) ? EXTRACTORS[name] : undefined;
  if (!extractor) {
    throw new CaptureError(
      `unknown capture extractor "${name}" for ${provider}; known extractors: ${Object.keys(EXTRACTORS).sort().join(", ")}`,
    );
  }

  // The roster's order, whatever order the caller passed them in.
  const ordered = spec.files.map((f) => {
    const file = files.find((c) => c.path === f.path);
    if (!file) {
      throw new CaptureError(`the login ended without a credential file: ${f.path} was not written (did the login finish?)`);
    }
    return file;
  });
  const parsed = ordered.map((file) => parseCaptured(name, file));
  const result = extractor(parsed, ordered);
  if (typeof result.accessToken !== "string" || result.accessToken.length === 0) {
    throw unrecognised(name, ordered[0]!.path, "no access token found", parsed[0]);
  }

  const payload: OAuthPayload = {
    type: "oauth",
    provider,
    files: Object.fromEntries(ordered.map((f) => [f.path, f.text])),
    accessToken: result.accessToken,
  };
  if (result.refreshToken) payload.refreshToken = result.refreshToken;
  if (result.account) payload.account = result.account;

  const extracted: Extracted = {
    payload,
    preview: maskSecret(result.accessToken),
    expiresAt: readExpiry(parsed[0], spec.expiry),
  };
  if (result.account) extracted.account = result.account;
  return extracted;
}

/** Text of the marker left in a shared mount instead of the real credential: holds no secret. */
export function phantomMarker(provider: string, credentialSet: string): string {
  return (
    JSON.stringify(
      {
        authctl: {
          provider,
          credentialSet,
          note: `This credential lives in authctl's store; run \`authctl creds show ${credentialSet}:${provider}\``,
        },
      },
      null,
      2,
    ) + "\n"
  );
}
