// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Control characters as "?": text from a vendor or a child process must not drive the terminal. */
export function withoutControlChars(text: string): string {
  return text.replace(CONTROL, "?");
}

/** A key's public kind, e.g. `sk-ant-api03-`, `sk_test_`, `ghp_`, `ya29.`: lowercase words with their separators. */
const PUBLIC_PREFIX = /^(?:[a-z][a-z0-9]{0,5}[-_.]){1,3}/;
/** The public kind at the start of a secret (`sk-ant-`), "" when it has none: it tells nothing about the key. */
export function publicPrefix(secret: string): string {
  return secret.match(PUBLIC_PREFIX)?.[0] ?? "";
}

const HEAD = 3;
const TAIL = 4;

/**
 * First 3 + "…" + last 4 for secrets of 12+ chars, "****" otherwise (docs/store.md), but never more
 * than a third (rounded down) of the secret part after the public prefix: a short key keeps its
 * prefix and fewer last characters (`sk-ant-ABCDE` → `sk-…E`), and "****" when not even one may
 * show. The last characters go first (they tell keys apart); the head then shows what is left of
 * the budget, the public prefix being free. Control characters become "?" (see withoutControlChars).
 */
export function maskSecret(secret: string): string {
  const prefix = publicPrefix(secret);
  let budget = Math.floor((secret.length - prefix.length) / 3);
  const tail = Math.min(TAIL, budget);
  if (secret.length < 12 || tail === 0) return "****";
  budget -= tail;
  const head = prefix.slice(0, HEAD) + secret.slice(prefix.length, prefix.length + Math.min(budget, Math.max(0, HEAD - prefix.length)));
  return withoutControlChars(`${head}…${secret.slice(-tail)}`);
}

const SECRET_FIELD = /secret|token|password|key|refresh|access|credential|cookie|session/i;

export function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name);
}

/** Deep copy with every secret-named field replaced, for `show`, logs and errors. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSecretField(k) && v !== null ? "[redacted]" : redact(v)]),
    );
  }
  return value;
}
