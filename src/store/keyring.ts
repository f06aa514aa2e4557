import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pickEnv } from "../core/env.js";

/**
 * The OS keyring (Secret Service on Linux) as a home for the store key. Each operation runs in a
 * short-lived child process: the store unlocks synchronously, and a synchronous native call into a
 * keyring that hangs (a locked collection waiting on a prompt nobody sees) could not be bounded;
 * spawnSync's timeout can. The child loads `@napi-rs/keyring`, so authctl itself never does and
 * a missing or broken keyring library is just "no keyring".
 */
const SERVICE = "authctl";
const TIMEOUT_MS = 3_000;
const CHILD = fileURLToPath(new URL("./keyringChild.js", import.meta.url));

export type KeyringAnswer = { ok: true; secret: string | null } | { ok: false; error: string };

/**
 * `AUTHCTL_STORE_KEY=file`: a new store gets the 0600 key file straight away: no keyring, no
 * first-run question (scripts on a terminal, tests, machines whose keyring must stay untouched).
 * It only decides how a store is created; an existing store keeps the key it was made with.
 */
export function keyFileChosen(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.AUTHCTL_STORE_KEY === "file";
}

/**
 * On Linux the Secret Service lives on the session bus: with no bus address and no systemd user
 * bus socket there is nobody to ask, so headless machines skip the child process entirely.
 */
function noSessionBus(env: Readonly<Record<string, string | undefined>>): boolean {
  if (process.platform !== "linux" || env.DBUS_SESSION_BUS_ADDRESS) return false;
  return !env.XDG_RUNTIME_DIR || !existsSync(join(env.XDG_RUNTIME_DIR, "bus"));
}

function ask(env: Readonly<Record<string, string | undefined>>, request: object): KeyringAnswer {
  if (noSessionBus(env)) return { ok: false, error: "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)" };
  const result = spawnSync(process.execPath, [CHILD], {
    input: JSON.stringify(request),
    encoding: "utf8",
    timeout: TIMEOUT_MS,
    // Only what reaching the session bus needs: the child never sees AUTHCTL_PASSPHRASE and friends.
    env: pickEnv(env, ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "HOME", "PATH"]),
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (result.error) return { ok: false, error: result.error.message.includes("ETIMEDOUT") ? `no answer within ${TIMEOUT_MS} ms` : result.error.message };
  try {
    const answer = JSON.parse(result.stdout) as { ok: boolean; secret?: string | null; error?: string };
    return answer.ok ? { ok: true, secret: answer.secret ?? null } : { ok: false, error: answer.error ?? "unknown error" };
  } catch {
    return { ok: false, error: `the keyring helper exited with status ${result.status}` };
  }
}

/** The secret kept for `account`: `secret: null` when the keyring answers but holds none. */
export function readKeyringSecret(env: Readonly<Record<string, string | undefined>>, account: string): KeyringAnswer {
  return ask(env, { op: "get", service: SERVICE, account });
}

/** Stores `secret` under `account` and reads it back, so a keyring that accepts but forgets is refused. */
export function writeKeyringSecret(env: Readonly<Record<string, string | undefined>>, account: string, secret: string): boolean {
  if (!ask(env, { op: "set", service: SERVICE, account, secret }).ok) return false;
  const back = readKeyringSecret(env, account);
  return back.ok && back.secret === secret;
}

export const KEYRING_SERVICE = SERVICE;
