import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from "node:crypto";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export interface Sealed {
  nonce: Buffer;
  /** ciphertext followed by the GCM tag */
  ciphertext: Buffer;
}

/** AES-256-GCM with a fresh nonce per call; `aad` binds the row identity to the ciphertext. */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { nonce, ciphertext: Buffer.concat([body, cipher.getAuthTag()]) };
}

/** Returns undefined when the key, nonce, AAD or bytes do not authenticate. */
export function open(key: Buffer, sealed: Sealed, aad: string): Buffer | undefined {
  if (sealed.ciphertext.length < TAG_BYTES) return undefined;
  const body = sealed.ciphertext.subarray(0, -TAG_BYTES);
  const tag = sealed.ciphertext.subarray(-TAG_BYTES);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.nonce);
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    return undefined;
  }
}

export const SCRYPT_PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export function deriveKey(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase.normalize("NFC"), salt, KEY_BYTES, SCRYPT_PARAMS);
}

/** A key for another purpose derived from the store key (HMAC-SHA256 over `label`): the store and a client holding only the key source derive the same one. */
export function subkeyOf(key: Buffer, label: string): Buffer {
  return createHmac("sha256", key).update(label).digest();
}
