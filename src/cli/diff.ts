// Unified diffs (diff -u format) of the small text files a migration changes: the hunks come
// from the `diff` package's structuredPatch; the headers and ranges are printed as GNU diff does.
import { structuredPatch } from 'diff';

export interface UnifiedDiffOptions {
  /** Lines of context around each change (diff -u uses 3). */
  context?: number;
}

/** A hunk range as GNU diff prints it: "5" for one line, "4,0" (the line before) for none. */
function range(start: number, count: number): string {
  if (count === 1) return `${start}`;
  return `${count === 0 ? start - 1 : start},${count}`;
}

/**
 * A unified diff from `before` (null: the file does not exist) to `after`, with a/ and b/ path
 * headers; "" when the contents are equal.
 */
export function unifiedDiff(path: string, before: string | null, after: string, options: UnifiedDiffOptions = {}): string {
  if (before === after) return '';
  const rel = path.replace(/^\/+/, '');
  const patch = structuredPatch(`a/${rel}`, `b/${rel}`, before ?? '', after, undefined, undefined, { context: options.context ?? 3 });
  const out = [before === null ? '--- /dev/null' : `--- a/${rel}`, `+++ b/${rel}`];
  for (const hunk of patch.hunks) {
    out.push(`@@ -${range(hunk.oldStart, hunk.oldLines)} +${range(hunk.newStart, hunk.newLines)} @@`, ...hunk.lines);
  }
  return `${out.join('\n')}\n`;
}
