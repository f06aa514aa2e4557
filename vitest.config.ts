import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/global.ts"],
    // Each file's own TMPDIR, under the run's temp root that global.ts makes and removes.
    setupFiles: ["test/setup/tmpdir.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Container tests share one engine: keep files serial so timings and cleanup stay sane on 2 cores.
    fileParallelism: false,
  },
});
