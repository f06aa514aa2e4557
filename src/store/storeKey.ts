import { randomBytes } from "node:crypto";
import { StoreLockedError } from "../core/errors.js";
import { storePaths } from "../core/paths.js";
import { deriveKey, KEY_BYTES, open, seal } from "./crypto.js";
import { keyFileChosen, readKeyringSecret, writeKeyringSecret } from "./keyring.js";
import { loadOrCreateKeyFile, passphraseFromEnv, readKeyFile, type KeySourceName } from "./keySource.js";

export type KeyKind = "keyfile" | "keyring" | "scrypt";
const KEY_CHECK_AAD = "authctl:key-check:v1";
const KEY_CHECK_PLAINTEXT = Buffer.from("authctl store key check");

/** What the key needs from its store: where it lives, its key sources, and its `meta` rows. */
export interface KeyHolder {
  readonly home: string;
  readonly path: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  meta(key: string): string | undefined;
  /** Runs `write` in one write transaction; `putMeta` adds a row unless the key exists. */
  initialise(write: (putMeta: (key: string, value: string) => void, meta: (key: string) => string | undefined) => void): void;
}

/**
 * The store key: which kind a store was created with (passphrase, OS keyring, key file), how it is
 * unlocked from those sources, and the check that a candidate key is this store's. Rows are sealed
 * by the store; this only resolves and holds the key.
 */
export class StoreKey {
  private key: Buffer | undefined;
  private unlockedBy: KeySourceName | undefined;

  constructor(private readonly store: KeyHolder) {}

  /** The key kind this store was created with, or undefined before its first secret. */
  get kind(): KeyKind | undefined {
    return this.store.meta("kdf") as KeyKind | undefined;
  }

  /** Which source unlocked the store, once unlocked. */
  get source(): KeySourceName | undefined {
    return this.unlockedBy;
  }

  /** A copy of the key (for an unlock session's daemon); undefined while locked. */
  get copy(): Buffer | undefined {
    return this.key && Buffer.from(this.key);
  }

  /** True while the key is in memory. */
  get unlocked(): boolean {
    return this.key !== undefined;
  }

  needsPassphrasePrompt(): boolean {
    return this.key === undefined && this.kind === "scrypt" && passphraseFromEnv(this.store.env) === undefined;
  }

  createInKeyring(): boolean {
    if (this.kind === undefined) this.initialise(undefined, { keyFile: false });
    return this.kind !== undefined;
  }

  createKeyFile(): void {
    if (this.kind === undefined) this.initialise(undefined, { keyring: false });
  }

  unlockWithPassphrase(passphrase: string): void {
    this.unlock({ passphrase, source: "tty passphrase" });
  }

  unlockWithKey(key: Buffer): void {
    const path = this.store.path;
    if (this.kind !== "scrypt") throw new StoreLockedError(`the store ${path} is not protected by a passphrase: an unlock session has nothing to unlock`);
    if (!this.matches(key)) throw new StoreLockedError(`the unlock session's key does not match the store ${path}: run \`authctl lock\`, then \`authctl unlock\``);
    this.key = Buffer.from(key);
    this.unlockedBy = "unlock session";
  }

  lock(): void {
    this.key = undefined;
    this.unlockedBy = undefined;
  }

  /** The key, unlocked from the environment's sources if it is not in memory yet. */
  require(): Buffer {
    if (!this.key) this.unlock(passphraseFromEnv(this.store.env));
    return this.key!;
  }

  private unlock(given: { passphrase: string; source: KeySourceName } | undefined): void {
    const { path, home } = this.store;
    const paths = storePaths(home);
    if (this.kind === undefined) this.initialise(given);
    const kind = this.kind!;
    let key: Buffer;
    let source: KeySourceName;
    if (kind === "scrypt") {
      if (!given) {
        throw new StoreLockedError(
          `the store ${path} is protected by a passphrase: set AUTHCTL_PASSPHRASE or AUTHCTL_PASSPHRASE_COMMAND, or run authctl on a terminal to be asked`,
        );
      }
      key = deriveKey(given.passphrase, Buffer.from(this.store.meta("kdf_salt")!, "hex"));
      source = given.source;
    } else {
      const lockedBy = kind === "keyring" ? `its OS keyring entry (service authctl, account ${path})` : `its key file ${paths.keyFile}`;
      if (given) {
        throw new StoreLockedError(`${given.source} is set, but the store ${path} is locked by ${lockedBy}: unset ${given.source}`);
      }
      key = kind === "keyring" ? this.fromKeyring() : readKeyFile(paths.keyFile);
      source = kind === "keyring" ? "keyring" : "key file";
    }
    if (!this.matches(key)) {
      throw new StoreLockedError(
        kind === "scrypt"
          ? `wrong passphrase (from ${source}) for the store ${path}; nothing was read or changed`
          : kind === "keyring"
            ? `the OS keyring entry (service authctl, account ${path}) does not match the store; nothing was read or changed`
            : `the key file ${paths.keyFile} does not match the store ${path}; nothing was read or changed`,
      );
    }
    this.key = key;
    this.unlockedBy = source;
  }

  private matches(key: Buffer): boolean {
    const check = JSON.parse(this.store.meta("key_check")!) as { nonce: string; ciphertext: string };
    return open(key, { nonce: Buffer.from(check.nonce, "hex"), ciphertext: Buffer.from(check.ciphertext, "hex") }, KEY_CHECK_AAD) !== undefined;
  }

  private fromKeyring(): Buffer {
    const { env, path } = this.store;
    const answer = readKeyringSecret(env, path);
    const why = !answer.ok ? `the keyring did not answer (${answer.error})` : answer.secret === null ? "the keyring holds no entry for it" : undefined;
    if (why) {
      throw new StoreLockedError(
        `the store ${path} keeps its key in the OS keyring (service authctl, account ${path}), but ${why}: unlock your desktop keyring (Secret Service) and retry`,
      );
    }
    const key = Buffer.from((answer as { secret: string }).secret, "hex");
    if (key.length !== KEY_BYTES) throw new StoreLockedError(`the OS keyring entry for the store ${path} is damaged (expected ${KEY_BYTES * 2} hex chars)`);
    return key;
  }

  /**
   * First secret ever, in docs/store.md's order: a configured passphrase, else a random key kept in the OS
   * keyring if one answers, else the 0600 key file. Runs holding SQLite's write lock, so of two
   * processes initialising at once only one writes the keyring entry; the other sees its key check.
   */
  private initialise(given: { passphrase: string } | undefined, { keyring = true, keyFile = true } = {}): void {
    const { env, path, home } = this.store;
    const salt = randomBytes(16);
    // scrypt is slow on purpose: derive before taking the write lock.
    const passphraseKey = given ? deriveKey(given.passphrase, salt) : undefined;
    this.store.initialise((putMeta, meta) => {
      if (meta("kdf") !== undefined) return;
      let kind: KeyKind;
      let key: Buffer;
      if (passphraseKey) {
        [kind, key] = ["scrypt", passphraseKey];
      } else {
        const random = randomBytes(KEY_BYTES);
        if (keyring && !keyFileChosen(env) && writeKeyringSecret(env, path, random.toString("hex"))) [kind, key] = ["keyring", random];
        else if (keyFile) [kind, key] = ["keyfile", loadOrCreateKeyFile(storePaths(home).keyFile)];
        else return;
      }
      const sealed = seal(key, KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD);
      putMeta("kdf", kind);
      putMeta("kdf_salt", salt.toString("hex"));
      putMeta("key_check", JSON.stringify({ nonce: sealed.nonce.toString("hex"), ciphertext: sealed.ciphertext.toString("hex") }));
    });
  }
}
