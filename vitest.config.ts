import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    testTimeout: 30_000,
    // PGlite's first start in a process takes several seconds on these machines.
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
