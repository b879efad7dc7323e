// Prometheus metrics of the controller, in the text exposition format (version 0.0.4), written
// here because it is tiny: counters, gauges and histograms with labels, and collectors that
// refresh gauges at scrape time.
import { ANNOTATIONS, MIGRATED_LABEL, parseState } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import { PHASES } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { EventRecorder, Lock, NodeApi } from '../ports.js';

type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (extra) entries.push(extra);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  lines(): string[];
}

export class Counter implements Family {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }
  lines(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatNumber(e.value)}`);
  }
}

export class Gauge implements Family {
  readonly type = 'gauge';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(labels: Labels, value: number): void {
    this.values.set(key(labels), { labels, value });
  }
  lines(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatNumber(e.value)}`);
  }
}

export class Histogram implements Family {
  readonly type = 'histogram';
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new Error(`histogram ${name}: buckets must increase`);
  }
  observe(labels: Labels, value: number): void {
    const k = key(labels);
    const s = this.series.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
    this.series.set(k, s);
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(s.labels, ['le', formatNumber(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];
  private readonly collectors: (() => Promise<void>)[] = [];

  private add<T extends Family>(family: T): T {
    if (!NAME.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
    if (this.families.some((f) => f.name === family.name)) throw new Error(`metric ${family.name} registered twice`);
    this.families.push(family);
    return family;
  }
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** Runs before each exposition, e.g. to count nodes by phase. */
  onCollect(collector: () => Promise<void>): void {
    this.collectors.push(collector);
  }

  async expose(): Promise<string> {
    for (const collect of this.collectors) await collect();
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines());
    }
    return `${out.join('\n')}\n`;
  }
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Migration durations: most take minutes (the drain dominates); rollbacks include the verify timeout. */
export const DURATION_BUCKETS = [30, 60, 120, 300, 600, 1200, 1800, 3600, 7200] as const;

export interface ControllerMetrics {
  registry: MetricsRegistry;
  nodes: Gauge;
  durations: Histogram;
  stepFailures: Counter;
  rollbacks: Counter;
  failures: Counter;
  leader: Gauge;
}

export function controllerMetrics(): ControllerMetrics {
  const registry = new MetricsRegistry();
  return {
    registry,
    nodes: registry.gauge('cri_migrator_nodes', 'Nodes selected for migration or carrying migration state, by phase.'),
    durations: registry.histogram(
      'cri_migrator_migration_duration_seconds',
      'Time from the start of a migration to its end, by outcome (succeeded, rolled_back, failed).',
      DURATION_BUCKETS,
    ),
    stepFailures: registry.counter('cri_migrator_step_failures_total', 'Failed attempts of a migration step, by action (each is retried or rolled back).'),
    rollbacks: registry.counter('cri_migrator_rollbacks_total', 'Migrations that were rolled back to Docker.'),
    failures: registry.counter('cri_migrator_failures_total', 'Migrations that ended Failed and need a human.'),
    leader: registry.gauge('cri_migrator_leader', '1 while this replica holds the leader Lease, else 0.'),
  };
}

/** Counts nodes by phase from a fresh list at scrape time (every phase is reported, 0 included). */
export function collectNodesByPhase(metrics: ControllerMetrics, nodes: NodeApi, selector: string, log: Logger): void {
  metrics.registry.onCollect(async () => {
    let all;
    try {
      all = await nodes.list();
    } catch (err) {
      log.warn({ err }, 'metrics: listing nodes failed; keeping the last counts');
      return;
    }
    const counts = new Map<string, number>([...PHASES, 'Unreadable'].map((p) => [p, 0]));
    for (const n of all) {
      const selected = matchesSelector(n.labels, selector) || Object.hasOwn(n.annotations, ANNOTATIONS.phase) || Object.hasOwn(n.labels, MIGRATED_LABEL);
      if (!selected) continue;
      const parsed = parseState(n.annotations);
      const phase = parsed.ok ? parsed.state.phase : 'Unreadable';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    for (const [phase, count] of counts) metrics.nodes.set({ phase }, count);
  });
}

const FINAL_EVENTS: Readonly<Record<string, 'succeeded' | 'rolled_back' | 'failed'>> = {
  MigrationSucceeded: 'succeeded',
  MigrationRolledBack: 'rolled_back',
  MigrationFailed: 'failed',
};

/**
 * An EventRecorder that also counts: the engine records an Event on each transition and failure,
 * so the metrics follow the engine without a second set of hooks. Durations come from the Node's
 * started-at and finished-at annotations.
 */
export class MetricsEvents implements EventRecorder {
  constructor(
    private readonly inner: EventRecorder,
    private readonly metrics: ControllerMetrics,
    private readonly nodes: NodeApi,
    private readonly log: Logger,
  ) {}

  async record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    await this.inner.record(nodeName, event);
    if (event.reason === 'MigrationStepFailed') {
      this.metrics.stepFailures.inc({ action: /^(\w+)/.exec(event.message)?.[1] ?? 'unknown' });
      return;
    }
    if (event.reason === 'MigrationRolledBack') this.metrics.rollbacks.inc();
    if (event.reason === 'MigrationFailed') this.metrics.failures.inc();
    const outcome = FINAL_EVENTS[event.reason];
    if (!outcome) return;
    try {
      const parsed = parseState((await this.nodes.get(nodeName)).annotations);
      const { startedAt, finishedAt } = parsed.ok ? parsed.state : {};
      if (startedAt && finishedAt) this.metrics.durations.observe({ outcome }, (finishedAt.getTime() - startedAt.getTime()) / 1000);
    } catch (err) {
      this.log.warn({ err, node: nodeName }, 'metrics: reading the migration times failed');
    }
  }
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
    metrics.leader.set({}, 0);
  }

  async tryAcquire(): Promise<boolean> {
    try {
      const held = await this.inner.tryAcquire();
      this.apiReachable = true;
      this.lastError = undefined;
      this.metrics.leader.set({}, held ? 1 : 0);
      return held;
    } catch (err) {
      this.apiReachable = false;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.metrics.leader.set({}, 0);
      throw err;
    }
  }

  async release(): Promise<void> {
    this.metrics.leader.set({}, 0);
    await this.inner.release();
  }
}
