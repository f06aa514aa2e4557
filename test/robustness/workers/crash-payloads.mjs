// Deterministic payloads for the crash-safety test: the writer (crash-writer.mjs) and the test
// (crash.test.ts) both derive generation <gen>'s values from (seed, gen), so after a SIGKILL the
// test can tell "exactly what generation N wrote" from garbage or a torn row.
import { createHash } from "node:crypto";

/** `length` hex chars derived from (seed, gen, label). */
export function filler(seed, gen, label, length) {
  let out = "";
  for (let i = 0; out.length < length; i++) {
    out += createHash("sha256").update(`${seed}:${gen}:${label}:${i}`).digest("hex");
  }
  return out.slice(0, length);
}

/** A number in [min, max] derived from (seed, gen, label). */
function sized(seed, gen, label, min, max) {
  const n = parseInt(createHash("sha256").update(`size:${seed}:${gen}:${label}`).digest("hex").slice(0, 8), 16);
  return min + (n % (max - min + 1));
}

/** An OpenAI-looking API key (4096 chars is the validator's limit). */
export function apiKeyFor(seed, gen) {
  const prefix = `sk-g${gen}-`;
  return prefix + filler(seed, gen, "key", sized(seed, gen, "key", 40, 4096 - prefix.length));
}

/** An oauth-shaped payload with a vendor file of 1 KiB – 600 KiB (many SQLite overflow pages). */
export function oauthFor(seed, gen, provider) {
  const accessToken = `tok-g${gen}-${provider}-${filler(seed, gen, `${provider}:access`, 64)}`;
  const blob = filler(seed, gen, `${provider}:blob`, sized(seed, gen, `${provider}:blob`, 1024, 600 * 1024));
  return {
    type: "oauth",
    provider,
    files: { "creds.json": JSON.stringify({ accessToken, gen, blob }) },
    accessToken,
    refreshToken: `ref-g${gen}-${filler(seed, gen, `${provider}:refresh`, 32)}`,
  };
}

/** The generation a stored value belongs to, read from its prefix (`sk-g12-…`, `tok-g12-…`). */
export function genOf(value) {
  const m = /^(?:sk|tok)-g(\d+)-/.exec(value);
  return m ? Number(m[1]) : -1;
}
