import { afterEach } from "vitest";

/** Teardown steps a test pushes as it sets things up; run after each test, the last pushed first. */
export function useCleanups(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}
