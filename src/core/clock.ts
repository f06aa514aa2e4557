/** Milliseconds since the epoch; injected so tests and expiry checks do not depend on the wall clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
