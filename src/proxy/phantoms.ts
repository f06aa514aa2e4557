import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { contextFrom, type WithContext } from "../context.js";
import { UsageError } from "../core/errors.js";
import { assertProviderName, assertSetName, DEFAULT_SET } from "../core/names.js";
import { checkSessionPolicy, parseStoredPolicy, type SessionPolicy } from "./policy.js";

/** Recognisable in a leak search, random enough (256 bits) that guessing is hopeless. */
const PREFIX = "authctl-phantom-";
const DEFAULT_TTL_MS = 12 * 60 * 60 * 1000;
/**
 * The one session id grammar: an agent container's session dir goes into `-v host:container`
 * arguments, where a ':' or ',' would split them.
 */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const isSessionId = (id: string): boolean => SESSION_ID.test(id);

export type PhantomPurpose = "access" | "refresh";

/** What a valid phantom stands for: never the phantom itself, only its owner. */
export interface PhantomGrant {
  sessionId: string;
  credentialSet: string;
  provider: string;
  purpose: PhantomPurpose;
  expiresAt: Date;
  /** What the session was narrowed to at mint time; absent: the roster's route alone decides. */
  policy?: SessionPolicy;
}

export interface MintPhantomsOptions extends WithContext {
  /** The container or agent session the phantoms belong to; `revokeSession` ends them all. */
  sessionId: string;
  credentialSet?: string;
  /** Lifetime; 12 h by default. The session ending revokes them sooner. */
  ttlMs?: number;
  /**
   * An absolute end the phantoms never pass: the grant they replace (an exchanged refresh phantom)
   * bounds them, so exchanging can never stretch a session beyond what was granted.
   */
  notAfter?: Date;
  /**
   * Narrows the session (for this provider) below the roster's route; replaces what an earlier mint
   * for the session gave. Without it, a session keeps the policy it has.
   */
  policy?: SessionPolicy;
}

export interface MintedPhantoms {
  sessionId: string;
  credentialSet: string;
  provider: string;
  /** Goes where the client expects its access token or API key. */
  accessToken: string;
  /** Goes where an OAuth client expects its refresh token; the proxy exchanges it for new phantoms. */
  refreshToken: string;
  expiresAt: Date;
}

const hashOf = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

/** What a cache of verified phantoms is keyed by: their hash, so the tokens are not kept in memory. */
export const phantomKey = hashOf;

export function looksLikePhantom(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Mints an access and a refresh phantom for (session, set, provider); only their hashes are stored. */
export function mintPhantoms(provider: string, options: MintPhantomsOptions): MintedPhantoms {
  const context = contextFrom(options);
  if (!SESSION_ID.test(options.sessionId)) {
    throw new UsageError(`session id "${options.sessionId.slice(0, 40)}" must be 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  }
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  assertProviderName(provider);
  const now = context.clock.now();
  const expiresAt = Math.min(now + (options.ttlMs ?? DEFAULT_TTL_MS), options.notAfter?.getTime() ?? Infinity);
  if (expiresAt <= now) throw new UsageError(`session "${options.sessionId}": its grant has ended; mint phantoms for a new session instead`);
  if (options.policy) {
    const routes = Object.values(context.roster().get(provider).proxy ?? {});
    checkSessionPolicy(provider, options.policy, routes);
  }
  const accessToken = PREFIX + randomBytes(32).toString("base64url");
  const refreshToken = PREFIX + randomBytes(32).toString("base64url");
  context.store().exclusive((tx) => {
    const insert = `INSERT INTO phantom_tokens (token_hash, session_id, credential_set, provider, purpose, expires_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`;
    tx.run(insert, hashOf(accessToken), options.sessionId, credentialSet, provider, "access", expiresAt, now);
    tx.run(insert, hashOf(refreshToken), options.sessionId, credentialSet, provider, "refresh", expiresAt, now);
    if (options.policy) {
      tx.run(
        `INSERT INTO session_policies (session_id, provider, policy, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (session_id, provider) DO UPDATE SET policy = excluded.policy, created_at = excluded.created_at`,
        options.sessionId,
        provider,
        JSON.stringify(options.policy),
        now,
      );
    }
  });
  return { sessionId: options.sessionId, credentialSet, provider, accessToken, refreshToken, expiresAt: new Date(expiresAt) };
}

interface PhantomRow {
  token_hash: string;
  session_id: string;
  credential_set: string;
  provider: string;
  purpose: PhantomPurpose;
  expires_at: number;
  revoked_at: number | null;
}

/**
 * The grant behind a presented phantom, or undefined when it is unknown, revoked or expired.
 * Looked up by its hash (the token itself is never stored), then the hashes compared in constant time.
 */
export function verifyPhantom(token: string, options: WithContext = {}): PhantomGrant | undefined {
  if (!looksLikePhantom(token) || token.length > 256) return undefined;
  const context = contextFrom(options);
  const presented = hashOf(token);
  const row = context
    .store()
    .read((sql) =>
      sql.get<PhantomRow & { policy: string | null }>(
        "SELECT t.*, p.policy FROM phantom_tokens t LEFT JOIN session_policies p ON p.session_id = t.session_id AND p.provider = t.provider WHERE t.token_hash = ?",
        presented,
      ),
    );
  if (!row || !timingSafeEqual(Buffer.from(row.token_hash, "hex"), Buffer.from(presented, "hex"))) return undefined;
  if (row.revoked_at !== null || row.expires_at <= context.clock.now()) return undefined;
  return {
    sessionId: row.session_id,
    credentialSet: row.credential_set,
    provider: row.provider,
    purpose: row.purpose,
    expiresAt: new Date(row.expires_at),
    ...(row.policy === null ? {} : { policy: parseStoredPolicy(row.policy, row.session_id) }),
  };
}

/** Revokes every phantom of a session (the container or agent session ended); returns how many. */
export function revokeSession(sessionId: string, options: WithContext = {}): number {
  const context = contextFrom(options);
  const now = context.clock.now();
  return context.store().exclusive(
    (tx) => tx.run("UPDATE phantom_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL", now, sessionId).changes,
  );
}

/** Whether phantoms were ever minted for the session (revoked or not): a second revoke is not a typo. */
export function sessionKnown(sessionId: string, options: WithContext = {}): boolean {
  if (!SESSION_ID.test(sessionId)) return false;
  const row = contextFrom(options).store().read((sql) => sql.get("SELECT 1 FROM phantom_tokens WHERE session_id = ? LIMIT 1", sessionId));
  return row !== undefined;
}

/** Revokes one phantom (a refresh phantom once exchanged: they are single-use like the real ones). */
export function revokePhantom(token: string, options: WithContext = {}): void {
  const context = contextFrom(options);
  const now = context.clock.now();
  context.store().exclusive((tx) => tx.run("UPDATE phantom_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL", now, hashOf(token)));
}

/** Whether any session still holds a live access phantom (a daemon that serves it must not idle out). */
export function hasLivePhantoms(options: WithContext = {}): boolean {
  const context = contextFrom(options);
  const now = context.clock.now();
  const row = context.store().read((sql) => sql.get("SELECT 1 FROM phantom_tokens WHERE purpose = 'access' AND revoked_at IS NULL AND expires_at > ? LIMIT 1", now));
  return row !== undefined;
}

/** A proxy session as `proxy list` shows it: who and what it was minted for, never a phantom or its hash. */
export interface ProxySessionSummary {
  sessionId: string;
  credentialSets: string[];
  providers: string[];
  createdAt: Date;
  /** The latest any of its phantoms ends (their notAfter): the session is over by then at the latest. */
  expiresAt: Date;
  state: "live" | "revoked" | "expired";
  /** What the session was narrowed to, per provider; a provider absent here has the roster's route alone. */
  policies: Record<string, SessionPolicy>;
}

/** The sessions phantoms were minted for, newest first; ended (revoked or expired) ones only with `all`. */
export function listSessions(options: WithContext & { all?: boolean } = {}): ProxySessionSummary[] {
  const context = contextFrom(options);
  const now = context.clock.now();
  const { rows, policies } = context.store().read((sql) => ({
    rows: sql.all<{ session_id: string; credential_set: string; provider: string; created: number; expires: number; unrevoked: number }>(
      `SELECT session_id, credential_set, provider, MIN(created_at) AS created, MAX(expires_at) AS expires,
         SUM(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END) AS unrevoked
       FROM phantom_tokens GROUP BY session_id, credential_set, provider`,
    ),
    policies: sql.all<{ session_id: string; provider: string; policy: string }>("SELECT session_id, provider, policy FROM session_policies"),
  }));
  const sessions = new Map<string, ProxySessionSummary & { unrevoked: boolean }>();
  for (const row of rows) {
    const s = sessions.get(row.session_id) ?? { sessionId: row.session_id, credentialSets: [], providers: [], createdAt: new Date(row.created), expiresAt: new Date(row.expires), state: "live", policies: {}, unrevoked: false };
    if (!s.credentialSets.includes(row.credential_set)) s.credentialSets.push(row.credential_set);
    if (!s.providers.includes(row.provider)) s.providers.push(row.provider);
    if (row.created < s.createdAt.getTime()) s.createdAt = new Date(row.created);
    if (row.expires > s.expiresAt.getTime()) s.expiresAt = new Date(row.expires);
    s.unrevoked ||= row.unrevoked > 0;
    sessions.set(row.session_id, s);
  }
  for (const p of policies) {
    const s = sessions.get(p.session_id);
    if (s) s.policies[p.provider] = parseStoredPolicy(p.policy, p.session_id);
  }
  return [...sessions.values()]
    .map(({ unrevoked, ...s }) => ({ ...s, state: !unrevoked ? "revoked" : s.expiresAt.getTime() <= now ? "expired" : "live" }) as ProxySessionSummary)
    .filter((s) => options.all || s.state === "live")
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || a.sessionId.localeCompare(b.sessionId));
}
