// `status`: the nodes selected for migration (or carrying our state), one row each. Pure.
import { ANNOTATIONS, MIGRATED_LABEL, parseState } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import type { NodeView } from '../domain/types.js';
import { formatAge, oneLine, renderTable } from './table.js';

export interface StatusRow {
  name: string;
  /** The phase, with the one being entered: "Drained -> RuntimeConfigured". */
  phase: string;
  runtime: string;
  /** Since cri-migrator.dev/started-at; "" when the migration has not started. */
  age: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string;
  ready: boolean;
  unschedulable: boolean;
}

export function statusRows(nodes: readonly NodeView[], selector: string, now: Date): StatusRow[] {
  return nodes
    .filter((n) => matchesSelector(n.labels, selector) || Object.hasOwn(n.annotations, ANNOTATIONS.phase) || Object.hasOwn(n.labels, MIGRATED_LABEL))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => {
      const parsed = parseState(n.annotations);
      const common = { name: n.name, runtime: n.containerRuntimeVersion, ready: n.ready, unschedulable: n.unschedulable };
      if (!parsed.ok) {
        return { ...common, phase: 'Unreadable', age: '', startedAt: null, finishedAt: null, lastError: parsed.error };
      }
      const s = parsed.state;
      const phase = s.intent !== undefined && s.intent !== s.phase ? `${s.phase} -> ${s.intent}` : s.phase;
      const error = s.lastError ?? (s.blockedBy ? `drain blocked: ${s.blockedBy}` : undefined) ?? s.rollbackReason ?? '';
      return {
        ...common,
        phase,
        age: s.startedAt ? formatAge(now.getTime() - s.startedAt.getTime()) : '',
        startedAt: s.startedAt?.toISOString() ?? null,
        finishedAt: s.finishedAt?.toISOString() ?? null,
        lastError: error,
      };
    });
}

export function renderStatus(rows: readonly StatusRow[], selector: string): string {
  if (rows.length === 0) {
    return `No node matches the selector "${selector}" or has migration state.\nTo migrate a node: kubectl label node NODE ${selector.split(',')[0]} (or: cri-migrator migrate NODE)\n`;
  }
  return renderTable(
    ['NAME', 'PHASE', 'RUNTIME', 'AGE', 'LAST ERROR'],
    rows.map((r) => [r.name, r.phase, r.runtime || '<unknown>', r.age || '-', r.lastError ? oneLine(r.lastError, 80) : '-']),
  );
}
