// Unified diffs (diff -u format) of the small text files a migration changes. Pure. Files are a
// few hundred lines at most, so a plain LCS table is simple and fast enough.

type Op = { kind: ' ' | '-' | '+'; line: string };

// A last line without its newline is a different line from the same text with one (as in GNU
// diff): it is tagged, and printed with a "\\ No newline at end of file" marker.
const NO_EOL = '\u0000';

function splitLines(text: string): string[] {
  if (text === '') return [];
  const finalNewline = text.endsWith('\n');
  const lines = (finalNewline ? text.slice(0, -1) : text).split('\n');
  if (!finalNewline) lines[lines.length - 1] += NO_EOL;
  return lines;
}

function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  // Trim the common head and tail first: most edits touch a few lines of a larger file.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: length of the longest common subsequence of x[i..] and y[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: ' ', line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ kind: ' ', line: x[i]! });
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      ops.push({ kind: '+', line: y[j]! });
      j++;
    } else {
      ops.push({ kind: '-', line: x[i]! });
      i++;
    }
  }
  // Removals before additions within a run of changes, as diff -u prints them.
  const ordered: Op[] = [];
  for (let k = 0; k < ops.length; ) {
    if (ops[k]!.kind === ' ') {
      ordered.push(ops[k]!);
      k++;
      continue;
    }
    const run: Op[] = [];
    while (k < ops.length && ops[k]!.kind !== ' ') run.push(ops[k++]!);
    ordered.push(...run.filter((o) => o.kind === '-'), ...run.filter((o) => o.kind === '+'));
  }
  ordered.push(...a.slice(a.length - tail).map((line) => ({ kind: ' ' as const, line })));
  return ordered;
}

export interface UnifiedDiffOptions {
  /** Lines of context around each change (diff -u uses 3). */
  context?: number;
}

/**
 * A unified diff from `before` (null: the file does not exist) to `after`, with a/ and b/ path
 * headers; "" when the contents are equal.
 */
export function unifiedDiff(path: string, before: string | null, after: string, options: UnifiedDiffOptions = {}): string {
  if (before === after) return '';
  const context = options.context ?? 3;
  const ops = diffLines(splitLines(before ?? ''), splitLines(after));
  const rel = path.replace(/^\/+/, '');
  const out = [before === null ? '--- /dev/null' : `--- a/${rel}`, `+++ b/${rel}`];
  const changed = ops.map((op, k) => (op.kind !== ' ' ? k : -1)).filter((k) => k >= 0);

  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - context);
    let end = Math.min(ops.length - 1, changed[k]! + context);
    k++;
    while (k < changed.length && changed[k]! - context <= end + 1) {
      end = Math.min(ops.length - 1, changed[k]! + context);
      k++;
    }
    let oldLine = 0;
    let newLine = 0;
    for (let p = 0; p < start; p++) {
      if (ops[p]!.kind !== '+') oldLine++;
      if (ops[p]!.kind !== '-') newLine++;
    }
    const body: string[] = [];
    let oldCount = 0;
    let newCount = 0;
    for (let p = start; p <= end; p++) {
      const op = ops[p]!;
      if (op.line.endsWith(NO_EOL)) body.push(`${op.kind}${op.line.slice(0, -1)}`, '\\ No newline at end of file');
      else body.push(`${op.kind}${op.line}`);
      if (op.kind !== '+') oldCount++;
      if (op.kind !== '-') newCount++;
    }
    const range = (line: number, count: number) => (count === 1 ? `${line + 1}` : `${count === 0 ? line : line + 1},${count}`);
    out.push(`@@ -${range(oldLine, oldCount)} +${range(newLine, newCount)} @@`, ...body);
  }
  return `${out.join('\n')}\n`;
}
