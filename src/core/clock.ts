/** Milliseconds since the epoch; injected so tests and expiry checks do not depend on the wall clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A length of time as a person says it, rounded: `45m`, `3h`, `2d`. */
export function spanText(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / 60_000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours}h` : `${Math.round(hours / 24)}d`;
}

/** A time from now's point of view, for tables: `in 3h`, `2m ago`, `now` (within a minute). */
export function relativeTime(at: Date, now: number): string {
  const ms = at.getTime() - now;
  if (Math.abs(ms) < 60_000) return "now";
  return ms > 0 ? `in ${spanText(ms)}` : `${spanText(ms)} ago`;
}
