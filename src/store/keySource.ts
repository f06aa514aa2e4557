import { randomBytes } from "node:crypto";
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { runBoundedCommand, stderrNote } from "../core/boundedCommand.js";
import { AUTHCTL_SECRET_ENV, pickEnv, type Env } from "../core/env.js";
import { StoreLockedError } from "../core/errors.js";
import { KEY_BYTES } from "./crypto.js";

export type KeySourceName = "AUTHCTL_PASSPHRASE" | "AUTHCTL_PASSPHRASE_COMMAND" | "keyring" | "tty passphrase" | "key file" | "unlock session";

export interface Passphrase {
  passphrase: string;
  source: KeySourceName;
}

const COMMAND_TIMEOUT_MS = 30_000;
const MAX_PASSPHRASE_BYTES = 64 * 1024;

/**
 * Runs `AUTHCTL_PASSPHRASE_COMMAND` (e.g. `pass show authctl`) with `/bin/sh -c`; fails closed on
 * error, timeout or empty output. A failure shows the command's last stderr lines, never its stdout.
 * It keeps the environment a password manager needs (HOME, GNUPGHOME, its agent's socket) but, like
 * every child authctl starts, not authctl's own secrets.
 */
function passphraseFromCommand(command: string, env: Env, timeoutMs: number): string {
  const childEnv = pickEnv(env, (name) => !AUTHCTL_SECRET_ENV.includes(name));
  const outcome = runBoundedCommand({ file: "/bin/sh", args: ["-c", command], env: childEnv, timeoutMs, maxStdoutBytes: MAX_PASSPHRASE_BYTES });
  const failed = (why: string) => new StoreLockedError(`AUTHCTL_PASSPHRASE_COMMAND ${why}; the store stays locked${stderrNote(outcome)}`);
  if (outcome.kind === "timeout") throw failed(`did not finish within ${timeoutMs} ms: it and every process it started were stopped`);
  if (outcome.kind === "overflow") throw failed(`printed more than ${MAX_PASSPHRASE_BYTES} bytes and was stopped`);
  if (outcome.kind === "not-started") throw failed(`could not start (${outcome.code})`);
  if (outcome.kind === "signal") throw failed(`failed (killed by ${outcome.signal})`);
  if (outcome.status !== 0) throw failed(`failed (exited with status ${outcome.status})`);
  const passphrase = outcome.stdout.replace(/\r?\n$/, "");
  if (!passphrase) throw failed("printed nothing");
  return passphrase;
}

const MIN_PASSPHRASE_LENGTH = 12;
const MIN_PASSPHRASE_BITS = 60;
const CLASSES: ReadonlyArray<[RegExp, number]> = [[/[a-z]/, 26], [/[A-Z]/, 26], [/[0-9]/, 10], [/[^a-zA-Z0-9]/, 33]];

/**
 * Why a new store passphrase is too weak, or undefined. The rule: at least 12 characters, at least
 * 60 bits by a character-class estimate (length × log2 of the sizes of the classes it uses: lower
 * case, upper case, digits, anything else), and not a few characters repeated. A few unrelated
 * words pass; `hunter2` and `aaaaaaaaaaaaaaaa` do not.
 */
export function passphraseWeakness(passphrase: string): string | undefined {
  const chars = [...passphrase];
  if (chars.length < MIN_PASSPHRASE_LENGTH) return `it has ${chars.length} characters, fewer than ${MIN_PASSPHRASE_LENGTH}`;
  const distinct = new Set(chars).size;
  if (distinct < 6 || distinct * 3 < chars.length) return `it repeats a few characters (${distinct} different in ${chars.length})`;
  const pool = CLASSES.reduce((size, [re, n]) => (re.test(passphrase) ? size + n : size), 0);
  const bits = Math.floor(chars.length * Math.log2(pool));
  if (bits < MIN_PASSPHRASE_BITS) return `it is worth about ${bits} bits by its length and character classes, under ${MIN_PASSPHRASE_BITS}`;
  return undefined;
}

/** The passphrase from the environment, if one is configured (checked in the order docs/store.md gives). */
export function passphraseFromEnv(env: Env, commandTimeoutMs = COMMAND_TIMEOUT_MS): Passphrase | undefined {
  if (env.AUTHCTL_PASSPHRASE !== undefined) {
    if (!env.AUTHCTL_PASSPHRASE) throw new StoreLockedError("AUTHCTL_PASSPHRASE is set but empty");
    return { passphrase: env.AUTHCTL_PASSPHRASE, source: "AUTHCTL_PASSPHRASE" };
  }
  if (env.AUTHCTL_PASSPHRASE_COMMAND !== undefined) {
    return { passphrase: passphraseFromCommand(env.AUTHCTL_PASSPHRASE_COMMAND, env, commandTimeoutMs), source: "AUTHCTL_PASSPHRASE_COMMAND" };
  }
  return undefined;
}

/**
 * Reads the 0600 key file, creating it on first use. The key is written to a private temp file
 * and hard-linked into place, so a racing process sees either no file or a complete one.
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  if (!existsSync(path)) {
    const staging = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(staging, randomBytes(KEY_BYTES).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
    try {
      linkSync(staging, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      unlinkSync(staging);
    }
  }
  return readKeyFile(path);
}

export function readKeyFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new StoreLockedError(`cannot read the store key file ${path}: ${(err as Error).message}`);
  }
  const key = Buffer.from(text, "hex");
  if (key.length !== KEY_BYTES) {
    throw new StoreLockedError(`the store key file ${path} is damaged (expected ${KEY_BYTES * 2} hex chars)`);
  }
  return key;
}
