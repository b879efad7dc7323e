// The e2e suites' pool settings (vitest.e2e.config.ts POOL): a suite file that waits starts as
// soon as a worker is free, not when the longest running suite ends. Real vitest runs on five
// small files: a long one first, then four short ones, two workers.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { POOL } from "../../vitest.e2e.config.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const LONG_MS = 15_000;
const files = { a: LONG_MS, b: 1000, c: 200, d: 200, e: 200 };

/** Runs the five files under `pool`; returns when each started and ended (ms since the epoch). */
async function runFiles(pool: { maxWorkers: number; minWorkers: number }) {
  const dir = mkdtempSync(join(tmpdir(), "crim-pool-"));
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "t"));
  const log = join(dir, "times.log");
  for (const [name, ms] of Object.entries(files)) {
    writeFileSync(join(dir, "t", `${name}.test.ts`), [
      'import { appendFileSync } from "node:fs";',
      'import { it } from "vitest";',
      `it("${name}", async () => {`,
      `  appendFileSync(${JSON.stringify(log)}, "${name} start " + Date.now() + "\\n");`,
      `  await new Promise((r) => setTimeout(r, ${ms}));`,
      `  appendFileSync(${JSON.stringify(log)}, "${name} end " + Date.now() + "\\n");`,
      "}, 60000);",
    ].join("\n"));
  }
  writeFileSync(join(dir, "vitest.config.mts"), [
    'import { defineConfig } from "vitest/config";',
    'import { BaseSequencer, type TestSpecification } from "vitest/node";',
    "class ByName extends BaseSequencer {",
    "  override async sort(f: TestSpecification[]) { return [...f].sort((x, y) => x.moduleId.localeCompare(y.moduleId)); }",
    "}",
    `export default defineConfig({ test: { include: ["t/*.test.ts"], ...${JSON.stringify(pool)}, sequence: { sequencer: ByName } } });`,
  ].join("\n"));
  try {
    await run(join(repoRoot, "node_modules/.bin/vitest"), ["run", "-c", "vitest.config.mts"], { cwd: dir });
    const at = new Map<string, number>();
    for (const line of readFileSync(log, "utf8").trim().split("\n")) {
      const [name, what, ms] = line.split(" ");
      at.set(`${name} ${what}`, Number(ms));
    }
    return at;
  } finally {
    rmSync(dir, { recursive: true, force: true }); // the node_modules link only, not its target
  }
}

describe("the e2e suites' pool (vitest.e2e.config.ts POOL)", () => {
  it("starts the last waiting file once a worker is free, while the long file still runs; with minWorkers 1 it waited for the long file", async () => {
    const [ours, minOne] = await Promise.all([runFiles(POOL), runFiles({ ...POOL, minWorkers: 1 })]);
    expect(ours.get("e start")!).toBeLessThan(ours.get("a end")!);
    // The behaviour POOL avoids, seen with the same files: the last file queued behind the long one.
    expect(minOne.get("e start")!).toBeGreaterThanOrEqual(minOne.get("a end")!);
  }, 60_000);
});
