import { parse as parseYaml, YAMLParseError } from "yaml";
import * as z from "zod";
import { CaptureError } from "../../../core/errors.js";
import type { CaptureSpec } from "../../../roster/schema.js";
import { maskSecret } from "../../../core/mask.js";
import type { CapturedFile } from "./readFiles.js";

import type { CapturedAccount, ContainerLoginPayload as OAuthPayload } from "../../../credentials/containerLogin.js";

/** The stored payload of a container login: the vendor files verbatim plus the tokens. */
export type { CapturedAccount, ContainerLoginPayload as OAuthPayload } from "../../../credentials/containerLogin.js";

export interface Extracted {
  payload: OAuthPayload;
  /** Masked access token (the rule: maskSecret in src/core/mask.ts). */
  preview: string;
  expiresAt: Date | null;
  account?: string;
}

export interface ExtractedTokens {
  accessToken: string;
  refreshToken?: string;
  account?: string;
  accounts?: CapturedAccount[];
}

/**
 * The masked token, or with several accounts each one's name and masked token
 * (`github.com gho_…wxyz, ghe.corp.example gho_…abcd`), so `creds list` shows them all.
 */
function previewOf(result: ExtractedTokens): string {
  if (!result.accounts || result.accounts.length < 2) return maskSecret(result.accessToken);
  return result.accounts.map((a) => `${SHOWN_NAME.test(a.name) ? a.name : "?"} ${maskSecret(a.accessToken)}`).join(", ");
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
// Vendor schemas (docs/vendors.md). Unknown extra fields pass through: vendors add fields often.

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

/** glab's config.yml: per-host settings under `hosts`, the token at `hosts.<host>.token` (file storage). */
export const GlabConfigSchema = z.looseObject({
  hosts: z
    .record(
      z.string(),
      z.looseObject({
        token: optString,
        user: optString,
        oauth2_refresh_token: optString,
      }),
    )
    .refine((hosts) => Object.keys(hosts).length > 0, "lists no host"),
});

/** opencode's auth.json: provider name → an OAuth login, an API key or a well-known token. */
export const OpencodeAuthSchema = z
  .record(
    z.string(),
    z.discriminatedUnion("type", [
      z.looseObject({ type: z.literal("oauth"), access: nonEmpty, refresh: optString, expires: z.number().nullish() }),
      z.looseObject({ type: z.literal("api"), key: nonEmpty }),
      z.looseObject({ type: z.literal("wellknown"), token: nonEmpty, key: optString }),
    ]),
  )
  .refine((providers) => Object.keys(providers).length > 0, "lists no provider");

export const QwenCredsSchema = z.looseObject({
  access_token: nonEmpty,
  refresh_token: optString,
  token_type: optString,
  expiry_date: z.number().nullish(),
  resource_url: optString,
});

/** Host or provider names as shown in a preview: vendor-controlled, so only plain names pass. */
const SHOWN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/** The file's accounts, the preferred one first (e.g. github.com); at least one or the file is refused. */
function withAccounts(vendor: string, path: string, accounts: CapturedAccount[], preferred: string, parsed: unknown, problem: string): ExtractedTokens {
  if (accounts.length === 0) throw unrecognised(vendor, path, problem, parsed);
  const ordered = [...accounts.filter((a) => a.name === preferred), ...accounts.filter((a) => a.name !== preferred)];
  const first = ordered[0]!;
  const out = tokens(first.accessToken, first.refreshToken, first.user);
  if (ordered.length > 1) out.accounts = ordered;
  return out;
}

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
  // Every logged-in host survives (github.com and an Enterprise host in one set); older gh keeps
  // the token beside `user`, newer gh also under `users.<user>`.
  const accounts: CapturedAccount[] = [];
  for (const [host, entry] of Object.entries(hosts)) {
    const user = entry.user ?? undefined;
    const token =
      entry.oauth_token || (user && entry.users && Object.prototype.hasOwnProperty.call(entry.users, user) ? entry.users[user]?.oauth_token : undefined);
    if (token) accounts.push({ name: host, accessToken: token, ...(user ? { user } : {}) });
  }
  const problem = "no host has an oauth_token (gh may have used a keyring; log in with --insecure-storage)";
  return withAccounts("gh", path, accounts, "github.com", parsed[0], problem);
};

const glab: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "config.yml";
  const config = validate("glab", GlabConfigSchema, parsed[0], files[0]);
  const accounts: CapturedAccount[] = [];
  for (const [host, entry] of Object.entries(config.hosts)) {
    if (!entry.token) continue;
    accounts.push({
      name: host,
      accessToken: entry.token,
      ...(entry.user ? { user: entry.user } : {}),
      ...(entry.oauth2_refresh_token ? { refreshToken: entry.oauth2_refresh_token } : {}),
    });
  }
  const problem = "no host has a token (glab may have used a keyring; log in with file storage)";
  return withAccounts("glab", path, accounts, "gitlab.com", parsed[0], problem);
};

const opencode: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "auth.json";
  const providers = validate("opencode", OpencodeAuthSchema, parsed[0], files[0]);
  const accounts: CapturedAccount[] = Object.entries(providers).map(([name, auth]) => {
    if (auth.type === "oauth") return { name, accessToken: auth.access, ...(auth.refresh ? { refreshToken: auth.refresh } : {}) };
    return { name, accessToken: auth.type === "api" ? auth.key : auth.token };
  });
  return withAccounts("opencode", path, accounts, "", parsed[0], "lists no provider");
};

const qwen: Extractor = (parsed, files) => {
  const data = validate("qwen", QwenCredsSchema, parsed[0], files[0]);
  return tokens(data.access_token, data.refresh_token);
};

/** Named extractors the roster's `oauth.capture.extractor` refers to. */
export const EXTRACTORS: Record<string, Extractor> = { claude, codex, gemini, gh, glab, opencode, qwen };

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
  if (result.accounts) payload.accounts = result.accounts;

  const extracted: Extracted = {
    payload,
    preview: previewOf(result),
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
