import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import { CaptureError } from "../../../core/errors.js";
import type { CaptureSpec } from "../../../roster/schema.js";
import type { CapturedFile } from "./readFiles.js";
import { unrecognised } from "./unrecognised.js";

let yaml: typeof Yaml | undefined;
/** yaml (250 kB) loads only for a capture file in YAML (gh's): every other login's start skips it. */
const yamlModule = () => (yaml ??= createRequire(import.meta.url)("yaml") as typeof Yaml);

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
    case "yaml": {
      const { parse: parseYaml, YAMLParseError } = yamlModule();
      try {
        return parseYaml(file.text, { prettyErrors: true, maxAliasCount: 50, logLevel: "error" }) as unknown;
      } catch (err) {
        const pos = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : "";
        throw unrecognised(vendor, file.path, `not valid YAML${pos}`);
      }
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
