import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Authctl } from "../context.js";
import { UsageError } from "../core/errors.js";
import { ensurePrivateDir } from "../core/paths.js";
import type { OAuth2LoginState } from "./oauth2/login.js";

/**
 * Prepared host logins kept for `authctl session capture <id>` in another process, beside the
 * container sessions as `<id>.host.json` (0600, in the private sessions dir). They hold only
 * short-lived values (a device code, a PKCE verifier) and are removed on capture or cleanup.
 */
const ID = /^[a-f0-9]{16}$/;
const STALE_MS = 24 * 60 * 60 * 1000;

const fileOf = (context: Authctl, id: string) => join(ensurePrivateDir(context.paths.sessions), `${id}.host.json`);

export function saveHostSession(context: Authctl, state: OAuth2LoginState): string {
  const id = randomBytes(8).toString("hex");
  writeFileSync(fileOf(context, id), JSON.stringify({ id, createdAt: context.clock.now(), state }), { mode: 0o600, flag: "wx" });
  return id;
}

export function hostSessionExists(context: Authctl, id: string): boolean {
  return ID.test(id) && existsSync(fileOf(context, id));
}

export function loadHostSession(context: Authctl, id: string): OAuth2LoginState {
  let saved: { id?: unknown; state?: OAuth2LoginState } | undefined;
  try {
    saved = JSON.parse(readFileSync(fileOf(context, id), "utf8")) as typeof saved;
  } catch {
    saved = undefined;
  }
  if (!saved || saved.id !== id || typeof saved.state?.provider !== "string" || typeof saved.state.method !== "string") {
    throw new UsageError(`session file ${fileOf(context, id)} is damaged; run \`authctl session cleanup ${id}\` and prepare again`);
  }
  return saved.state;
}

export function forgetHostSession(context: Authctl, id: string): void {
  rmSync(fileOf(context, id), { force: true });
}

/** Host sessions nobody captured within a day: their codes have long expired, so only the file goes. */
export function sweepHostSessions(context: Authctl): void {
  const dir = ensurePrivateDir(context.paths.sessions);
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".host.json")) continue;
    if (context.clock.now() - statSync(join(dir, name)).mtimeMs > STALE_MS) rmSync(join(dir, name), { force: true });
  }
}
