import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/global.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Container tests share one engine: keep files serial so timings and cleanup stay sane on 2 cores.
    fileParallelism: false,
  },
});
