import { publicPrefix } from "../core/mask.js";

/**
 * The fewest bytes of a secret (past its public prefix) concealed on their own, wherever they
 * appear: a secret cut in pieces — half on stdout, half on stderr, in whatever order the pipes
 * deliver them — loses every piece of this length or more.
 */
export const FRAGMENT_BYTES = 8;
/** An encoded form shorter than this is not looked for: it would match ordinary output. */
const MIN_ENCODED_LENGTH = 8;

/** One way a secret can appear in output. */
export interface SecretForm {
  bytes: Buffer;
  /** Where the part after the public prefix begins: fragments come from there on. */
  fragmentFrom: number;
  /** The shortest run of `text` concealed on its own; 0 when only the whole form is. */
  fragment: number;
}

const lowerEscapes = (url: string) => url.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
const formEncoded = (text: string) => new URLSearchParams([["k", text]]).toString().slice(2);

/**
 * Every form of each secret to conceal: as is, hex (both cases), URL-encoded (encodeURIComponent,
 * lowercase escapes, form encoding), and base64 and base64url. A secret's base64 depends on how
 * many bytes precede it (mod 3), so each of the three alignments gives a form: the characters
 * made only of the secret's bits, the same wherever it sits.
 */
export function secretForms(secrets: readonly string[]): SecretForm[] {
  const forms = new Map<string, SecretForm>();
  const add = (text: string, fragmentFrom: number, fragment: number, encoded: boolean) => {
    if (text.length === 0 || (encoded && text.length < MIN_ENCODED_LENGTH) || forms.has(text)) return;
    forms.set(text, { bytes: Buffer.from(text, "latin1"), fragmentFrom, fragment: text.length - fragmentFrom >= fragment ? fragment : 0 });
  };
  for (const secret of new Set(secrets)) {
    const bytes = Buffer.from(secret, "utf8");
    const prefix = publicPrefix(secret);
    add(bytes.toString("latin1"), prefix.length, FRAGMENT_BYTES, false);
    const hex = bytes.toString("hex");
    for (const form of [hex, hex.toUpperCase()]) add(form, 2 * prefix.length, 2 * FRAGMENT_BYTES, true);
    const url = encodeURIComponent(secret);
    for (const form of [url, lowerEscapes(url), formEncoded(secret)]) add(form, encodeURIComponent(prefix).length, FRAGMENT_BYTES, true);
    for (const lead of [0, 1, 2]) {
      const first = Math.ceil((lead * 8) / 6);
      const end = Math.floor(((lead + bytes.length) * 8) / 6);
      const fragmentFrom = Math.ceil(((lead + prefix.length) * 8) / 6) - first;
      for (const encoding of ["base64", "base64url"] as const) {
        const encoded = Buffer.concat([Buffer.alloc(lead), bytes, Buffer.alloc(2)]).toString(encoding);
        // FRAGMENT_BYTES bytes give 10 characters of their own at any alignment.
        add(encoded.slice(first, end), fragmentFrom, Math.floor((FRAGMENT_BYTES * 8 - 4) / 6), true);
      }
    }
  }
  return [...forms.values()];
}
