import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { StoreLockedError } from "../core/errors.js";
import { KEY_BYTES } from "./crypto.js";

export type KeySourceName = "AUTHCTL_PASSPHRASE" | "AUTHCTL_PASSPHRASE_COMMAND" | "keyring" | "tty passphrase" | "key file";

export interface Passphrase {
  passphrase: string;
  source: KeySourceName;
}

const COMMAND_TIMEOUT_MS = 30_000;

/** Runs `AUTHCTL_PASSPHRASE_COMMAND` (e.g. `pass show authctl`); fails closed on error or empty output. */
function passphraseFromCommand(command: string): string {
  const result = spawnSync("/bin/sh", ["-c", command], {
    encoding: "utf8",
    timeout: COMMAND_TIMEOUT_MS,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exited with status ${result.status}`;
    throw new StoreLockedError(`AUTHCTL_PASSPHRASE_COMMAND failed (${why}); the store stays locked`);
  }
  const passphrase = result.stdout.replace(/\r?\n$/, "");
  if (!passphrase) {
    throw new StoreLockedError("AUTHCTL_PASSPHRASE_COMMAND printed nothing; the store stays locked");
  }
  return passphrase;
}

/** The passphrase from the environment, if one is configured (checked in SPEC §3 order). */
export function passphraseFromEnv(env: Readonly<Record<string, string | undefined>>): Passphrase | undefined {
  if (env.AUTHCTL_PASSPHRASE !== undefined) {
    if (!env.AUTHCTL_PASSPHRASE) throw new StoreLockedError("AUTHCTL_PASSPHRASE is set but empty");
    return { passphrase: env.AUTHCTL_PASSPHRASE, source: "AUTHCTL_PASSPHRASE" };
  }
  if (env.AUTHCTL_PASSPHRASE_COMMAND !== undefined) {
    return { passphrase: passphraseFromCommand(env.AUTHCTL_PASSPHRASE_COMMAND), source: "AUTHCTL_PASSPHRASE_COMMAND" };
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
