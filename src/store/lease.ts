import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { interruption } from "../core/abort.js";
import { StoreError } from "../core/errors.js";
import type { SqlTx } from "./sql.js";

/**
 * Whether a process of this host still runs. EPERM: it does, under another uid (a pid taken over
 * by another account's process counts as alive, which only makes a waiter wait for the TTL).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The lease of a login's one refresher, whichever path refreshes it (the proxy, `run`, a strategy). */
export const refreshLeaseKey = (credentialSet: string, provider: string) => `refresh:${credentialSet}:${provider}`;

export interface LeaseOptions {
  /** Give up waiting for another holder after this long (default: the TTL and a second). */
  waitMs?: number;
  signal?: AbortSignal;
}

/** What a lease needs from its store: one atomic read-then-write, and the time. */
export interface LeaseStore {
  exclusive<T>(fn: (tx: SqlTx) => T): T;
  now(): number;
}

interface Holder {
  holder: string;
  pid: number;
  host: string;
  expires_at: number;
}

/** A holder that died (SIGKILL, a crash) never released: its lease ends with its pid, or at its TTL on another host. */
function held(row: Holder | undefined, now: number): row is Holder {
  if (!row || row.expires_at <= now) return false;
  return row.host !== hostname() || processAlive(row.pid);
}

/**
 * Runs `fn` as the only holder of `key` among every process using this store (a refresh token is
 * often single-use: two refreshers of one login log the user out). A holder past its TTL, or whose
 * process is gone, is taken over; the release removes only this holder's row, once, so a late
 * holder never frees a lease another has taken over.
 */
export async function withLease<T>(store: LeaseStore, key: string, ttlMs: number, fn: () => Promise<T>, options: LeaseOptions = {}): Promise<T> {
  const me = randomUUID();
  const patience = options.waitMs ?? ttlMs + 1_000;
  let holder: Holder | undefined;
  for (let delay = 10, waited = 0; ; waited += delay, delay = Math.min(delay * 2, 250)) {
    const now = store.now();
    holder = store.exclusive((tx) => {
      const row = tx.get<Holder>("SELECT holder, pid, host, expires_at FROM leases WHERE key = ?", key);
      if (held(row, now)) return row;
      tx.run(
        `INSERT INTO leases (key, holder, pid, host, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, expires_at = excluded.expires_at`,
        key,
        me,
        process.pid,
        hostname(),
        now + ttlMs,
      );
      return undefined;
    });
    if (!holder) break;
    if (options.signal?.aborted) throw interruption(options.signal);
    if (waited >= patience) {
      throw new StoreError(`another process (pid ${holder.pid} on ${holder.host}) still holds the lease "${key}" after ${Math.round(waited / 1000)}s of waiting; retry, or stop that process`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  try {
    return await fn();
  } finally {
    store.exclusive((tx) => tx.run("DELETE FROM leases WHERE key = ? AND holder = ?", key, me));
  }
}
