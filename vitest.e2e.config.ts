import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type Reporter, type TestSpecification } from "vitest/node";

/**
 * Longest suite first, so that two workers finish close together (minutes measured on this
 * 2-core machine, everything cached; README "Test suites"); except migrate-123 after
 * control-plane-single: on a cold machine hack/test.sh builds Kubernetes 1.23 in the background
 * while the others run, the longest of those builds.
 */
const ORDER = [
  "migrate-132.test.ts",
  "control-plane-ha.test.ts",
  "nodes.test.ts",
  "control-plane-single.test.ts",
  "migrate-123.test.ts",
  "cluster.test.ts",
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = ORDER.indexOf(basename(f.moduleId));
      return i < 0 ? ORDER.length : i;
    };
    return [...files].sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * Writes the file named by E2E_LAST_SUITE_SIGNAL once every suite file but one has ended: from
 * then on one suite runs alone and a core is mostly idle, so hack/test.sh starts the unit and
 * integration tests beside it.
 */
export class LastSuiteSignal implements Reporter {
  private total = 0;
  private ended = 0;
  private written = false;
  constructor(private readonly path: string | undefined) {}
  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.total = specifications.length;
    this.check();
  }
  onTestModuleEnd(): void {
    this.ended++;
    this.check();
  }
  private check(): void {
    if (!this.path || this.written || this.total === 0 || this.ended < this.total - 1) return;
    this.written = true;
    writeFileSync(this.path, `${this.ended} of ${this.total} suite files ended\n`);
  }
}

/**
 * Two suite files at a time (the machine has two cores; hack/cluster.sh builds and creates
 * clusters one at a time). minWorkers equal to maxWorkers: vitest's pool (tinypool, a fresh
 * process per file) replaces a finished file's worker only while fewer workers exist than files
 * wait, counting the busy ones, so with minWorkers 1 the last file waited for the other
 * running suite to end: in the cold run of efd0725 migrate-123 sat queued behind migrate-132
 * after control-plane-single ended (test/unit/e2e-pool.test.ts shows both behaviours).
 */
export const POOL = { maxWorkers: 2, minWorkers: 2 } as const;

// End-to-end suites drive real kind clusters, each suite its own, long timeouts, and no retries
// that could hide a flake. E2E_SERIAL=1 runs one suite at a time.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    // cluster.test.ts runs only with E2E_HARNESS_LONG=1. Left in, vitest ran it (skipped) after
    // the last suite, so LastSuiteSignal saw two files left while the last suite ran alone.
    exclude: process.env.E2E_HARNESS_LONG === "1" ? [] : ["test/e2e/cluster.test.ts"],
    fileParallelism: process.env.E2E_SERIAL !== "1",
    ...POOL,
    sequence: { sequencer: LongestFirst },
    testTimeout: 15 * 60_000,
    hookTimeout: 90 * 60_000,
    reporters: ["default", new LastSuiteSignal(process.env.E2E_LAST_SUITE_SIGNAL)],
  },
});
