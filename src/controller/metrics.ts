// Prometheus metrics of the controller, with prom-client on a Registry of our own (no global
// default registry). Counters and durations follow the engine's observer stream; gauges of nodes
// by phase and of the rollout are computed at scrape time from a node source.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ANNOTATIONS, MIGRATED_LABEL, parseState } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import { PHASES, type NodeView } from '../domain/types.js';
import type { Config } from '../config.js';
import type { EngineEvent, EngineObserver } from '../engine/observer.js';
import { GATE_REASONS, rolloutGate } from '../engine/rollout.js';
import { rolloutViewOf, type RolloutExtras } from '../engine/view.js';
import type { Logger } from '../log.js';
import type { Lock } from '../ports.js';

/** Migration durations: most take minutes (the drain dominates); rollbacks include the verify timeout. */
export const DURATION_BUCKETS = [30, 60, 120, 300, 600, 1200, 1800, 3600, 7200] as const;

export interface ControllerMetrics {
  registry: Registry;
  nodes: Gauge<'phase'>;
  durations: Histogram<'outcome'>;
  stepFailures: Counter<'action'>;
  rollbacks: Counter;
  failures: Counter;
  leader: Gauge;
  rolloutHalted: Gauge;
  rolloutBlocked: Gauge<'reason'>;
}

/** Where the gauges computed at scrape time read the nodes and the rollout's facts from. */
export interface NodeSource {
  nodes: () => Promise<readonly NodeView[]>;
  rollout: () => Promise<RolloutExtras>;
  config: Config;
  log: Logger;
}

export function controllerMetrics(source?: NodeSource): ControllerMetrics {
  const registry = new Registry();
  const registers = [registry];
  // The gauges computed at scrape time. prom-client calls every collect() of one exposition at
  // once: they share one read of the nodes and the rollout, and one pass over them.
  let scraping: Promise<void> | undefined;
  const scrape = () => (scraping ??= scrapeGauges(source!, { nodes, halted, blocked }).finally(() => (scraping = undefined)));
  const collect = source ? { collect: () => scrape() } : {};
  const nodes: Gauge<'phase'> = new Gauge({
    name: 'cri_migrator_nodes',
    help: 'Nodes selected for migration or carrying migration state, by phase.',
    labelNames: ['phase'],
    registers,
    ...collect,
  });
  const halted: Gauge = new Gauge({
    name: 'cri_migrator_rollout_halted',
    help: '1 while a RolledBack or Failed node halts the rollout (rollout.haltOnFailure) until "cri-migrator resume".',
    registers,
    ...collect,
  });
  const blocked: Gauge<'reason'> = new Gauge({
    name: 'cri_migrator_rollout_blocked',
    help: '1 for the reason no new node may start now (halted, paused, window, blocking-pods, canary), 0 for the others.',
    labelNames: ['reason'],
    registers,
    ...collect,
  });
  return {
    registry,
    nodes,
    rolloutHalted: halted,
    rolloutBlocked: blocked,
    durations: new Histogram({
      name: 'cri_migrator_migration_duration_seconds',
      help: 'Time from the start of a migration to its end, by outcome (succeeded, rolled_back, failed).',
      labelNames: ['outcome'],
      buckets: [...DURATION_BUCKETS],
      registers,
    }),
    stepFailures: new Counter({
      name: 'cri_migrator_step_failures_total',
      help: 'Failed attempts of a migration step, by action (each is retried or rolled back).',
      labelNames: ['action'],
      registers,
    }),
    rollbacks: new Counter({ name: 'cri_migrator_rollbacks_total', help: 'Migrations that were rolled back to Docker.', registers }),
    failures: new Counter({ name: 'cri_migrator_failures_total', help: 'Migrations that ended Failed and need a human.', registers }),
    leader: new Gauge({ name: 'cri_migrator_leader', help: '1 while this replica holds the leader Lease, else 0.', registers }),
  };
}

/** Counts what the engine reports: failed attempts, outcomes and their durations. */
export class MetricsObserver implements EngineObserver {
  constructor(private readonly metrics: ControllerMetrics) {}

  emit(event: EngineEvent): void {
    if (event.type === 'stepFailed') {
      this.metrics.stepFailures.inc({ action: event.action });
      return;
    }
    if (event.type !== 'finished') return;
    if (event.outcome === 'rolled_back') this.metrics.rollbacks.inc();
    if (event.outcome === 'failed') this.metrics.failures.inc();
    if (event.durationMs !== undefined) this.metrics.durations.observe({ outcome: event.outcome }, event.durationMs / 1000);
  }
}

/**
 * The gauges of one scrape from one read: nodes by phase (every phase, 0 included), whether the
 * rollout is halted and why no new node may start. A failed read keeps the last values.
 */
async function scrapeGauges(source: NodeSource, gauges: { nodes: Gauge<'phase'>; halted: Gauge; blocked: Gauge<'reason'> }): Promise<void> {
  let all: readonly NodeView[];
  let extras: RolloutExtras;
  try {
    [all, extras] = await Promise.all([source.nodes(), source.rollout()]);
  } catch (err) {
    source.log.warn({ err }, 'metrics: reading the nodes or the rollout failed; keeping the last values');
    return;
  }
  const counts = new Map<string, number>([...PHASES, 'Unreadable'].map((p) => [p, 0]));
  for (const n of all) {
    const selected = matchesSelector(n.labels, source.config.selector) || Object.hasOwn(n.annotations, ANNOTATIONS.phase) || Object.hasOwn(n.labels, MIGRATED_LABEL);
    if (!selected) continue;
    const parsed = parseState(n.annotations);
    const phase = parsed.ok ? parsed.state.phase : 'Unreadable';
    counts.set(phase, (counts.get(phase) ?? 0) + 1);
  }
  for (const [phase, count] of counts) gauges.nodes.set({ phase }, count);
  const gate = rolloutGate(rolloutViewOf(all, extras), source.config, new Date());
  gauges.halted.set(!gate.open && gate.reason === 'halted' ? 1 : 0);
  for (const reason of GATE_REASONS) gauges.blocked.set({ reason }, !gate.open && gate.reason === reason ? 1 : 0);
}

/** A Lock that reports leadership as a gauge and remembers whether the API server answered. */
export class ObservedLock implements Lock {
  /** undefined until the first attempt; then whether the last attempt reached the API server. */
  apiReachable: boolean | undefined;
  lastError: string | undefined;

  constructor(
    private readonly inner: Lock,
    private readonly metrics: ControllerMetrics,
  ) {
    metrics.leader.set(0);
  }

  async tryAcquire(): Promise<boolean> {
    try {
      const held = await this.inner.tryAcquire();
      this.apiReachable = true;
      this.lastError = undefined;
      this.metrics.leader.set(held ? 1 : 0);
      return held;
    } catch (err) {
      this.apiReachable = false;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.metrics.leader.set(0);
      throw err;
    }
  }

  async release(): Promise<void> {
    this.metrics.leader.set(0);
    await this.inner.release();
  }
}
