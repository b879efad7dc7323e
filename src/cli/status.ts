// `status`: the rollout (may new nodes start now, and if not why), then the nodes selected for
// migration (or carrying our state), one row each, with who holds each. Pure.
import type { Config } from '../config.js';
import { ANNOTATIONS, MIGRATED_LABEL, parseState } from '../domain/annotations.js';
import { describeClaim, isLive, parseClaim } from '../domain/claim.js';
import { matchesSelector } from '../domain/selector.js';
import type { NodeView } from '../domain/types.js';
import { inFlight, rolloutViewOf, type RolloutExtras } from '../engine/view.js';
import { rolloutGate, type GateReason } from '../engine/rollout.js';
import { formatAge, oneLine, printable, renderTable } from './table.js';

export interface StatusRow {
  name: string;
  /** The phase, with the one being entered: "Drained -> RuntimeConfigured". */
  phase: string;
  runtime: string;
  /** Since cri-migrator.dev/started-at; "" when the migration has not started. */
  age: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The actor holding the node (live claim), or "". */
  holder: string;
  lastError: string;
  /** The annotation that halts the rollout, when this node has it. */
  halt: string | null;
  /** Preflight warnings (Docker settings that could not be carried over). */
  warnings: string | null;
  ready: boolean;
  unschedulable: boolean;
}

export interface RolloutStatus {
  open: boolean;
  reason: GateReason | null;
  message: string;
  inFlight: string[];
  concurrency: number;
}

export interface Status {
  rollout: RolloutStatus;
  nodes: StatusRow[];
}

export function statusRows(nodes: readonly NodeView[], selector: string, now: Date): StatusRow[] {
  return nodes
    .filter((n) => matchesSelector(n.labels, selector) || Object.hasOwn(n.annotations, ANNOTATIONS.phase) || Object.hasOwn(n.labels, MIGRATED_LABEL))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => {
      const parsed = parseState(n.annotations);
      const claim = parseClaim(n.annotations);
      const common = {
        name: n.name,
        runtime: n.containerRuntimeVersion,
        ready: n.ready,
        unschedulable: n.unschedulable,
        holder: claim && isLive(claim, now) ? describeClaim(claim, now) : '',
        halt: n.annotations[ANNOTATIONS.halt] ?? null,
      };
      if (!parsed.ok) {
        return { ...common, phase: 'Unreadable', age: '', startedAt: null, finishedAt: null, lastError: parsed.error, warnings: null };
      }
      const s = parsed.state;
      const phase = s.intent !== undefined && s.intent !== s.phase ? `${s.phase} -> ${s.intent}` : s.phase;
      const blocked = s.blockedBy ? (s.intent === 'Drained' ? `drain blocked: ${s.blockedBy}` : `waiting: ${s.blockedBy}`) : undefined;
      const retry = s.nextAttemptAt && s.nextAttemptAt.getTime() > now.getTime() ? ` (next attempt at ${s.nextAttemptAt.toISOString()})` : '';
      const unselected = s.unselectedAt && !['Succeeded', 'RolledBack', 'Failed'].includes(s.phase) ? 'label removed: finishing the migration already under way. ' : '';
      const error = (blocked ?? (s.lastError ? `${s.lastError}${retry}` : undefined) ?? s.rollbackReason ?? '');
      return {
        ...common,
        phase,
        age: s.startedAt ? formatAge(now.getTime() - s.startedAt.getTime()) : '',
        startedAt: s.startedAt?.toISOString() ?? null,
        finishedAt: s.finishedAt?.toISOString() ?? null,
        lastError: `${unselected}${error}` || (s.warnings ? `warnings: ${s.warnings}` : ''),
        warnings: s.warnings ?? null,
      };
    });
}

export function rolloutStatus(nodes: readonly NodeView[], extras: RolloutExtras, config: Config, now: Date): RolloutStatus {
  const gate = rolloutGate(rolloutViewOf(nodes, extras), config, now);
  const flying = nodes.filter((n) => inFlight(n, now)).map((n) => n.name);
  return {
    open: gate.open,
    reason: gate.open ? null : gate.reason,
    message: gate.open ? 'open: new nodes start as concurrency and minReadyNodes allow' : gate.message,
    inFlight: flying,
    concurrency: config.concurrency,
  };
}

export function renderStatus(status: Status, selector: string): string {
  const { rollout, nodes: rows } = status;
  const flying = rollout.inFlight.length ? `${rollout.inFlight.join(', ')}` : 'none';
  const head = `Rollout: ${printable(rollout.message)}\nIn flight: ${flying} (concurrency ${rollout.concurrency})\n\n`;
  if (rows.length === 0) {
    return `${head}No node matches the selector "${selector}" or has migration state.\nTo migrate a node: kubectl label node NODE ${selector.split(',')[0]} (or: cri-migrator migrate NODE)\n`;
  }
  return (
    head +
    renderTable(
      ['NAME', 'PHASE', 'RUNTIME', 'AGE', 'HOLDER', 'LAST ERROR'],
      rows.map((r) => [
        r.name,
        r.halt !== null ? `${r.phase} (halts rollout)` : r.phase,
        r.runtime || '<unknown>',
        r.age || '-',
        r.holder ? oneLine(r.holder, 60) : '-',
        r.lastError ? oneLine(r.lastError, 100) : '-',
      ]),
    )
  );
}
