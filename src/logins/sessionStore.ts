import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import type { Authctl } from "../context.js";
import { UsageError } from "../core/errors.js";
import { ensurePrivateDir } from "../core/paths.js";

/** What `session prepare` prints and every other `session` command takes. */
export const SESSION_ID = /^[a-f0-9]{16}$/;
export const STALE_SESSION_MS = 24 * 60 * 60 * 1000;

export interface SavedSessionOf<T> {
  id: string;
  createdAt: number;
  state: T;
}

export interface SavedSessionEntry<T> {
  id: string;
  /** Absent when the file cannot be read or fails the schema. */
  saved?: SavedSessionOf<T>;
  /** Older than the sweep's limit (by `createdAt`, or the file's mtime when unreadable). */
  stale: boolean;
}

export interface SessionStore<T> {
  save(context: Authctl, state: T): SavedSessionOf<T>;
  /** The session, or a `UsageError` saying whether the id is malformed, unknown or its file damaged. */
  load(context: Authctl, id: string): SavedSessionOf<T>;
  exists(context: Authctl, id: string): boolean;
  forget(context: Authctl, id: string): void;
  /** Every saved session of this kind; the caller cleans up what the stale ones left. */
  list(context: Authctl, maxAgeMs?: number): SavedSessionEntry<T>[];
}

/**
 * Prepared logins kept for `authctl session capture <id>` in another process: one file per
 * session, `<id><suffix>` (0600) in the private sessions dir, checked against `state` when read:
 * a file of any other shape is damaged, never half-trusted. Container and host logins each
 * have a store with their own suffix and state schema.
 */
export function sessionStore<T>(suffix: string, state: z.ZodType<T>): SessionStore<T> {
  const schema = z.strictObject({ id: z.string().regex(SESSION_ID), createdAt: z.number(), state });
  const dir = (context: Authctl) => ensurePrivateDir(context.paths.sessions);
  const fileOf = (context: Authctl, id: string) => join(dir(context), `${id}${suffix}`);
  const damaged = (context: Authctl, id: string) =>
    new UsageError(`session file ${fileOf(context, id)} is damaged; run \`authctl session cleanup ${id}\` and prepare again`);

  const load = (context: Authctl, id: string): SavedSessionOf<T> => {
    if (!SESSION_ID.test(id)) throw new UsageError(`invalid session id ${JSON.stringify(id.slice(0, 40))}: expected 16 hex characters from \`authctl session prepare\``);
    let text: string;
    try {
      text = readFileSync(fileOf(context, id), "utf8");
    } catch {
      throw new UsageError(`no session ${id}: it was cleaned up, swept as stale, or never prepared (run \`authctl session prepare\`)`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw damaged(context, id);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success || parsed.data.id !== id) throw damaged(context, id);
    return parsed.data as SavedSessionOf<T>;
  };

  return {
    save(context, value) {
      const saved: SavedSessionOf<T> = { id: randomBytes(8).toString("hex"), createdAt: context.clock.now(), state: value };
      writeFileSync(fileOf(context, saved.id), JSON.stringify(saved), { mode: 0o600, flag: "wx" });
      return saved;
    },
    load,
    exists: (context, id) => SESSION_ID.test(id) && existsSync(fileOf(context, id)),
    forget: (context, id) => rmSync(fileOf(context, id), { force: true }),
    list(context, maxAgeMs = STALE_SESSION_MS) {
      const now = context.clock.now();
      const entries: SavedSessionEntry<T>[] = [];
      for (const name of readdirSync(dir(context))) {
        if (!name.endsWith(suffix)) continue;
        // `<id>.host.json` ends in `.json` too; its id part (`<id>.host`) is no session id.
        const id = name.slice(0, -suffix.length);
        if (!SESSION_ID.test(id)) continue;
        try {
          const saved = load(context, id);
          entries.push({ id, saved, stale: now - saved.createdAt > maxAgeMs });
        } catch {
          entries.push({ id, stale: now - statSync(join(dir(context), name)).mtimeMs > maxAgeMs });
        }
      }
      return entries;
    },
  };
}
