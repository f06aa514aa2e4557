import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { UsageError } from "../../core/errors.js";
import type { Authctl } from "../../context.js";
import { PROVIDER_NAME, SET_NAME } from "../../core/names.js";
import { ensurePrivateDir } from "../../core/paths.js";
import type { AuthSessionState } from "./session.js";

/** Prepared sessions kept on disk for frontends in other languages (`authctl session …`). */
const SESSION_ID = /^[a-f0-9]{16}$/;
export const STALE_SESSION_MS = 24 * 60 * 60 * 1000;

/** Shapes authctl writes; anything else makes the file "damaged" (see session cleanup). */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// eslint-disable-next-line no-control-regex
const PRINTABLE_ABSOLUTE_PATH = /^\/[^\u0000-\u001f\u007f-\u009f]*$/;

const SavedSessionSchema = z.strictObject({
  id: z.string().regex(SESSION_ID),
  createdAt: z.number(),
  state: z.strictObject({
    provider: z.string().regex(PROVIDER_NAME),
    projectId: z.string().nullable(),
    credentialSet: z.string().regex(SET_NAME),
    exposeToken: z.boolean(),
    containerName: z.string().regex(CONTAINER_NAME),
    argv: z.array(z.string()),
    banner: z.string(),
    title: z.string(),
    authDir: z.string().regex(PRINTABLE_ABSOLUTE_PATH),
    mountsDir: z.string(),
  }),
});
export type SavedSession = z.infer<typeof SavedSessionSchema>;

const sessionsDir = (context: Authctl) => ensurePrivateDir(context.paths.sessions);
const sessionFile = (context: Authctl, id: string) => join(sessionsDir(context), `${id}.json`);

export function saveSession(context: Authctl, state: AuthSessionState): SavedSession {
  const saved: SavedSession = { id: randomBytes(8).toString("hex"), createdAt: context.clock.now(), state };
  writeFileSync(sessionFile(context, saved.id), JSON.stringify(saved), { mode: 0o600, flag: "wx" });
  return saved;
}

export function loadSession(context: Authctl, id: string): SavedSession {
  if (!SESSION_ID.test(id)) throw new UsageError(`invalid session id ${JSON.stringify(id.slice(0, 40))}: expected 16 hex characters from \`authctl session prepare\``);
  let text: string;
  try {
    text = readFileSync(sessionFile(context, id), "utf8");
  } catch {
    throw new UsageError(`no session ${id}: it was cleaned up, swept as stale, or never prepared (run \`authctl session prepare\`)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = SavedSessionSchema.safeParse(raw);
  if (!parsed.success || parsed.data.id !== id) {
    throw new UsageError(`session file ${sessionFile(context, id)} is damaged; run \`authctl session cleanup ${id}\` and prepare again`);
  }
  return parsed.data;
}

export function sessionExists(context: Authctl, id: string): boolean {
  return SESSION_ID.test(id) && existsSync(sessionFile(context, id));
}

export function forgetSession(context: Authctl, id: string): void {
  rmSync(sessionFile(context, id), { force: true });
}

export interface SavedSessionEntry {
  id: string;
  /** Absent when the file cannot be read or fails the schema. */
  saved?: SavedSession;
  /** Older than the sweep's limit (by `createdAt`, or the file's mtime when unreadable). */
  stale: boolean;
}

/** Every saved session file; the caller cleans the stale ones' containers and dirs. */
export function savedSessions(context: Authctl, maxAgeMs = STALE_SESSION_MS): SavedSessionEntry[] {
  const now = context.clock.now();
  const entries: SavedSessionEntry[] = [];
  for (const name of readdirSync(sessionsDir(context))) {
    const id = name.replace(/\.json$/, "");
    if (!SESSION_ID.test(id)) continue;
    try {
      const saved = loadSession(context, id);
      entries.push({ id, saved, stale: now - saved.createdAt > maxAgeMs });
    } catch {
      entries.push({ id, stale: now - statSync(join(sessionsDir(context), name)).mtimeMs > maxAgeMs });
    }
  }
  return entries;
}
