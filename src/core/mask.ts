// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * First 3 + "…" + last 4 for secrets of 12+ chars, "****" otherwise (SPEC §3). Control characters
 * become "?": a preview is printed by every `creds list`, and a vendor-controlled token must not
 * put terminal escape sequences there.
 */
export function maskSecret(secret: string): string {
  return secret.length >= 12 ? `${secret.slice(0, 3)}…${secret.slice(-4)}`.replace(CONTROL, "?") : "****";
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
