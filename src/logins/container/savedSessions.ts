import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { UsageError } from "../../core/errors.js";
import { ensurePrivateDir, storePaths } from "../../core/paths.js";
import type { AuthSessionState } from "./session.js";

/** Prepared sessions kept on disk for frontends in other languages (`authctl session …`). */
const SESSION_ID = /^[a-f0-9]{16}$/;
export const STALE_SESSION_MS = 24 * 60 * 60 * 1000;

const SavedSessionSchema = z.strictObject({
  id: z.string().regex(SESSION_ID),
  createdAt: z.number(),
  state: z.strictObject({
    provider: z.string(),
    projectId: z.string().nullable(),
    credentialSet: z.string(),
    exposeToken: z.boolean(),
    containerName: z.string(),
    argv: z.array(z.string()),
    banner: z.string(),
    title: z.string(),
    authDir: z.string(),
    mountsDir: z.string(),
  }),
});
export type SavedSession = z.infer<typeof SavedSessionSchema>;

const sessionsDir = (home: string) => ensurePrivateDir(storePaths(home).sessions);
const sessionFile = (home: string, id: string) => join(sessionsDir(home), `${id}.json`);

export function saveSession(home: string, state: AuthSessionState): SavedSession {
  const saved: SavedSession = { id: randomBytes(8).toString("hex"), createdAt: Date.now(), state };
  writeFileSync(sessionFile(home, saved.id), JSON.stringify(saved), { mode: 0o600, flag: "wx" });
  return saved;
}

export function loadSession(home: string, id: string): SavedSession {
  if (!SESSION_ID.test(id)) throw new UsageError(`invalid session id ${JSON.stringify(id.slice(0, 40))}: expected 16 hex characters from \`authctl session prepare\``);
  let text: string;
  try {
    text = readFileSync(sessionFile(home, id), "utf8");
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
    throw new UsageError(`session file ${sessionFile(home, id)} is damaged; run \`authctl session cleanup ${id}\` and prepare again`);
  }
  return parsed.data;
}

export function sessionExists(home: string, id: string): boolean {
  return SESSION_ID.test(id) && existsSync(sessionFile(home, id));
}

export function forgetSession(home: string, id: string): void {
  rmSync(sessionFile(home, id), { force: true });
}

/** Saved sessions older than `maxAgeMs` (or unreadable): the caller cleans their containers and dirs. */
export function staleSessions(home: string, maxAgeMs = STALE_SESSION_MS, now = Date.now()): Array<{ id: string; saved?: SavedSession }> {
  const stale: Array<{ id: string; saved?: SavedSession }> = [];
  for (const name of readdirSync(sessionsDir(home))) {
    const id = name.replace(/\.json$/, "");
    if (!SESSION_ID.test(id)) continue;
    try {
      const saved = loadSession(home, id);
      if (now - saved.createdAt > maxAgeMs) stale.push({ id, saved });
    } catch {
      if (now - statSync(join(sessionsDir(home), name)).mtimeMs > maxAgeMs) stale.push({ id });
    }
  }
  return stale;
}
