import { defineConfig } from "vitest/config";

// End-to-end suites drive real kind clusters: one file at a time (the machine
// has two cores), long timeouts, and no retries that could hide a flake.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 15 * 60_000,
    hookTimeout: 90 * 60_000,
    reporters: ["default"],
  },
});
