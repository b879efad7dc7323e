import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TestSpecification } from "vitest/node";
import { LastSuiteSignal } from "../../vitest.e2e.config.js";

const specs = (n: number) => Array.from({ length: n }, () => ({}) as TestSpecification);

describe("LastSuiteSignal (hack/test.sh starts the unit tests beside the last e2e suite)", () => {
  it("writes its file once all suite files but one have ended, not before", () => {
    const path = join(mkdtempSync(join(tmpdir(), "crim-signal-")), "last");
    const r = new LastSuiteSignal(path);
    r.onTestRunStart(specs(5));
    for (let i = 0; i < 3; i++) r.onTestModuleEnd();
    expect(existsSync(path)).toBe(false);
    r.onTestModuleEnd();
    expect(readFileSync(path, "utf8")).toBe("4 of 5 suite files ended\n");
  });

  it("writes at once when the run has one suite file, and nothing without a path", () => {
    const path = join(mkdtempSync(join(tmpdir(), "crim-signal-")), "last");
    new LastSuiteSignal(path).onTestRunStart(specs(1));
    expect(existsSync(path)).toBe(true);
    const none = new LastSuiteSignal(undefined);
    none.onTestRunStart(specs(1));
    none.onTestModuleEnd();
  });
});
