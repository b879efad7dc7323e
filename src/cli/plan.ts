// The plan: what `migrate` would do to a node, gathered by running the engine with the dry-run
// strategy (withDryRun) and rendered for humans or as JSON. The recording is split into the steps
// the engine decided, in order; building and rendering are pure.
import type { Config } from '../config.js';
import { PREFIX } from '../domain/annotations.js';
import { describeBudget, neverAllowsDisruption, podKey, type NodePatch, type NodeView, type PodView } from '../domain/types.js';
import { classifyPods } from '../drain/filters.js';
import type { PassResult } from '../engine/executor.js';
import type { DryRunRecord, EngineEvent, EngineObserver } from '../engine/observer.js';
import type { CarriedItem, DaemonJsonWarning } from '../host/daemon-json.js';
import type { ContainerdConfigSummary, RenderedFiles } from '../host/files.js';
import type { CheckResult } from '../host/preflight.js';
import { maskUrlCredentials } from '../log.js';
import { unifiedDiff } from './diff.js';
import { printable } from './table.js';

export type RestingPoint = Exclude<PassResult, { kind: 'progressed' }>;

/** driveNode only returns where a node rests (settled, or waiting); the type says so. */
export function restingPoint(result: PassResult): RestingPoint {
  if (result.kind === 'progressed') throw new Error(`${result.node}: the engine stopped mid-way at ${result.phase}`);
  return result;
}

/** One of the engine's decisions and everything recorded after it, in order. */
export interface RecordedStep {
  action: string;
  target: string;
  reason: string;
  records: DryRunRecord[];
}

/** Everything one dry run of one node produced: the input of buildNodePlan. */
export interface RecordedPlan {
  /** The node as read before anything (even the preparation) was recorded. */
  before: NodeView;
  /** The node as the dry-run overlay sees it at the end. */
  after: NodeView;
  preparation: { notes: string[]; refused?: string };
  /** What the admission checked (control-plane guards). */
  admission?: string[];
  /** driveNode's answer (it only returns resting points); undefined when the preparation refused. */
  result: RestingPoint | undefined;
  steps: RecordedStep[];
  preflight: CheckResult[];
  pods: PodView[];
  now: Date;
  /** What was rendered for the node (PlanRecorder.rendered): the config version, carried items, warnings. */
  rendered?: RenderedFiles;
}

/**
 * Collects one node's dry run from the engine's observer stream: each decision to act opens a
 * step, and the records that follow belong to it. Records after begin() and before the first
 * decision are that step's too (the admission writes its intent before it reports the decision).
 */
export class PlanRecorder implements EngineObserver {
  readonly preflightResults: CheckResult[] = [];
  /** The files rendered for the node, last seen. */
  rendered: RenderedFiles | undefined;
  readonly steps: RecordedStep[] = [];
  /** What the admission checked (control-plane guards): shown with the plan. */
  readonly admission: string[] = [];
  private started = false;
  private beforeFirst: DryRunRecord[] = [];

  /** Records before this point belong to the preparation, not to a step. */
  begin(): void {
    this.started = true;
    this.beforeFirst = [];
  }

  emit(event: EngineEvent): void {
    switch (event.type) {
      case 'decided':
        if (!this.started || event.decision.kind !== 'act') return;
        this.admission.push(...(event.decision.notes ?? []));
        this.steps.push({
          action: event.decision.action,
          target: event.decision.target,
          reason: event.decision.reason,
          records: this.steps.length === 0 ? this.beforeFirst.splice(0) : [],
        });
        return;
      case 'recorded':
        if (!this.started) return;
        (this.steps.at(-1)?.records ?? this.beforeFirst).push(event.record);
        return;
      case 'rendered':
        this.rendered = event.rendered;
        return;
      case 'preflight':
        this.preflightResults.splice(0, this.preflightResults.length, ...event.results);
        return;
      default:
        return;
    }
  }
}

export interface PodEntry {
  pod: string;
  owner: string;
  reason?: string;
}

export interface BlockingPod {
  pod: string;
  budget?: string;
  reason: string;
  /** The budget allows no eviction even with every pod healthy: the drain could only time out. */
  never?: boolean;
}

export interface PlanStep {
  action: string;
  target: string;
  reason: string;
  /** Each change in order: a command, a file write, or a change through the Kubernetes API. */
  changes: PlanChange[];
}

export type PlanChange =
  | { kind: 'command'; command: string }
  | { kind: 'write'; path: string; mode: string }
  | { kind: 'api'; description: string };

export interface FileChange {
  path: string;
  mode: string;
  change: 'create' | 'modify' | 'unchanged';
  diff: string;
}

export interface NodePlan {
  node: string;
  runtime: string;
  kubelet: string;
  /** true: the migration would go through (or just has to wait its turn). */
  ok: boolean;
  summary: string;
  preparation: string[];
  /** What the admission checked before the node may start (etcd quorum, the control plane's static pods, API downtime). */
  admission: string[];
  preflight: CheckResult[];
  pods: { evict: PodEntry[]; skip: PodEntry[]; refuse: PodEntry[]; blocking: BlockingPod[] };
  /** The drain's overall limit: counted from its first attempt, across all attempts. */
  drainTimeoutSeconds: number;
  steps: PlanStep[];
  files: FileChange[];
  /** Net change of the node's labels and annotations (null: removed), and of spec.unschedulable. */
  nodePatch: { labels: Record<string, string | null>; annotations: Record<string, string | null>; unschedulable?: boolean };
  events: { type: string; reason: string; message: string }[];
  /** The containerd config version written and why, what daemon.json carried, what it could not (when recorded). */
  host?: { containerd: ContainerdConfigSummary; carried: CarriedItem[]; warnings: DaemonJsonWarning[] };
}

function ownerOf(pod: PodView): string {
  const c = pod.controllers[0];
  return c ? `${c.kind}/${c.name}` : 'no controller';
}

function mapDiff(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) out[k] = v;
  for (const k of Object.keys(before)) if (!Object.hasOwn(after, k)) out[k] = null;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function describePatch(patch: NodePatch): string[] {
  const out: string[] = [];
  if (patch.unschedulable !== undefined) out.push(patch.unschedulable ? 'cordon the node (spec.unschedulable=true)' : 'uncordon the node (spec.unschedulable=false)');
  for (const [k, v] of Object.entries(patch.labels ?? {})) out.push(v === null ? `remove label ${k}` : `label ${k}=${v}`);
  // Our own state annotations change on every step; they are summed up in the net node patch.
  for (const [k, v] of Object.entries(patch.annotations ?? {})) {
    if (k.startsWith(PREFIX)) continue;
    out.push(v === null ? `remove annotation ${k}` : `annotate ${k}=${v}`);
  }
  return out;
}

function describeRecord(record: DryRunRecord): PlanChange[] {
  const api = (description: string): PlanChange => ({ kind: 'api', description });
  switch (record.kind) {
    case 'exec':
      return [{ kind: 'command', command: maskUrlCredentials(record.command) }];
    case 'write':
      return [{ kind: 'write', path: record.path, mode: mode(record.mode) }];
    case 'patch':
      return describePatch(record.patch).map(api);
    case 'wait':
      return [api(`wait until the node is ${record.description}`)];
    case 'evict': {
      const o = record.outcome;
      if (o.kind === 'accepted') return [api(`evict ${record.pod}`)];
      if (o.kind === 'gone') return [api(`evict ${record.pod} (already gone)`)];
      const by = record.budget ? describeBudget(record.budget) : o.budget ? `PodDisruptionBudget ${o.budget}` : '';
      return [api(`evict ${record.pod}: BLOCKED${by ? ` by ${by}` : ''} (${o.reason}); the drain waits and retries`)];
    }
    case 'smoke':
      return [api(`run a smoke pod on the node (image ${record.image}) and wait for Running`)];
    case 'event':
      return [];
  }
}

const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

export function buildNodePlan(recorded: RecordedPlan, config: Config): NodePlan {
  const { before, after, result } = recorded;
  const all = recorded.steps.flatMap((s) => s.records);

  const classified = classifyPods(recorded.pods, config.drain, recorded.now);
  const entry = (pod: PodView, reason?: string): PodEntry => ({ pod: podKey(pod), owner: ownerOf(pod), ...(reason ? { reason } : {}) });
  const blocking = new Map<string, BlockingPod>();
  for (const r of all) {
    if (r.kind === 'evict' && r.outcome.kind === 'blocked') {
      const never = r.budget !== undefined && neverAllowsDisruption(r.budget);
      const budget = r.budget ? `${r.budget.namespace}/${r.budget.name}` : r.outcome.budget;
      const reason = r.budget ? `${describeBudget(r.budget)}${never ? ': allows no disruption even with every pod healthy' : ''}` : r.outcome.reason;
      blocking.set(r.pod, { pod: r.pod, reason, ...(budget ? { budget } : {}), ...(never ? { never } : {}) });
    }
  }

  // One diff per file: from what is on the node now to what the last write leaves.
  const files = new Map<string, { before: string | null; after: string; mode: number }>();
  for (const r of all) {
    if (r.kind !== 'write') continue;
    const seen = files.get(r.path);
    files.set(r.path, { before: seen ? seen.before : r.before, after: r.after, mode: r.mode });
  }

  const steps: PlanStep[] = recorded.steps.map((s) => ({
    action: s.action,
    target: s.target,
    reason: s.reason,
    changes: s.records.flatMap(describeRecord),
  }));

  const phase = result?.kind === 'settled' ? result.phase : undefined;
  let ok: boolean;
  let summary: string;
  if (recorded.preparation.refused) {
    ok = false;
    summary = `refused: ${recorded.preparation.refused}`;
  } else if (result === undefined) {
    ok = false;
    summary = 'no plan';
  } else if ([...blocking.values()].some((b) => b.never)) {
    ok = false;
    const never = [...blocking.values()].filter((b) => b.never);
    summary =
      `would NOT migrate: the drain would be blocked by ${[...new Set(never.map((b) => `PodDisruptionBudget ${b.budget}`))].join(', ')}, ` +
      `which allows no disruption even with every pod healthy; it would wait ${config.drain.timeoutSeconds}s in all ` +
      `(drain.timeoutSeconds, across attempts) and then roll the node back. Change the budget or add replicas first`;
  } else if (result.kind === 'wait') {
    ok = true;
    summary = `would wait before going on: ${result.reason}`;
  } else if (phase === 'Succeeded') {
    ok = true;
    summary = steps.length === 0 ? `nothing to do: ${result.reason || 'already migrated'}` : 'would reach Succeeded (containerd)';
  } else if (phase === 'RolledBack' || phase === 'Failed') {
    ok = false;
    const failedChecks = recorded.preflight.filter((c) => !c.ok);
    const why = failedChecks.length > 0 ? `preflight check(s) failed: ${failedChecks.map((c) => c.name).join(', ')}` : result.reason;
    summary = `would NOT migrate: ${why} (the run would end ${phase})`;
  } else {
    ok = false;
    summary = `would stop: ${result.reason}`;
  }

  const events = all.flatMap((r) => (r.kind === 'event' ? [{ type: r.type, reason: r.reason, message: r.message }] : []));
  return {
    node: before.name,
    runtime: before.containerRuntimeVersion,
    kubelet: before.kubeletVersion,
    ok,
    summary,
    preparation: recorded.preparation.notes,
    admission: recorded.admission ?? [],
    // Proxy URLs may carry credentials: the plan shows them masked (text and JSON), the files keep them.
    preflight: recorded.preflight.map((c) => ({ ...c, message: maskUrlCredentials(c.message) })),
    pods: {
      evict: classified.evict.map((p) => entry(p)),
      skip: classified.skip.map(({ pod, reason }) => entry(pod, reason)),
      refuse: classified.refuse.map(({ pod, reason }) => entry(pod, reason)),
      blocking: [...blocking.values()],
    },
    drainTimeoutSeconds: config.drain.timeoutSeconds,
    steps,
    files: [...files.entries()].map(([path, f]) => ({
      path,
      mode: mode(f.mode),
      change: f.before === null ? 'create' : f.before === f.after ? 'unchanged' : 'modify',
      diff: maskUrlCredentials(unifiedDiff(path, f.before, f.after)),
    })),
    nodePatch: {
      labels: mapDiff(before.labels, after.labels),
      annotations: mapDiff(before.annotations, after.annotations),
      ...(after.unschedulable !== before.unschedulable ? { unschedulable: after.unschedulable } : {}),
    },
    events,
    ...(recorded.rendered
      ? { host: { containerd: recorded.rendered.containerd, carried: recorded.rendered.carried, warnings: recorded.rendered.warnings } }
      : {}),
  };
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : prefix + line))
    .join('\n');
}

/** A multi-line shell command as "$ first line" and indented continuation lines. */
function renderCommand(command: string, prefix: string): string {
  const lines = command.replace(/\n+$/, '').split('\n');
  return lines.map((line, i) => `${prefix}${i === 0 ? '$ ' : '  '}${line}`).join('\n');
}

export function renderPlanText(plans: readonly NodePlan[]): string {
  const out: string[] = [];
  for (const plan of plans) {
    out.push(`Node ${plan.node} (${plan.runtime || 'runtime unknown'}, kubelet ${plan.kubelet || 'unknown'}): ${plan.summary}`);
    if (plan.preparation.length > 0) {
      out.push('', '  Before the migration:');
      for (const note of plan.preparation) out.push(`    - ${note}`);
    }
    if (plan.admission.length > 0) {
      out.push('', '  Before it may start (control plane):');
      for (const note of plan.admission) out.push(`    - ${note}`);
    }
    const checks = plan.preflight.filter((c) => c.severity === undefined);
    if (checks.length > 0) {
      out.push('', '  Preflight checks:');
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) out.push(`    ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.message}`);
    }
    const carried = plan.preflight.filter((c) => c.severity === 'info' && c.name.startsWith('carried-'));
    if (carried.length > 0) {
      out.push('', '  Carried over from /etc/docker/daemon.json:');
      for (const c of carried) out.push(`    - ${c.message}`);
    }
    const images = plan.preflight.filter((c) => c.severity === 'info' && c.name === 'images');
    if (images.length > 0) {
      out.push('', '  Images carried from Docker into containerd (started during the drain, before Docker stops):');
      for (const c of images) out.push(`    - ${c.message}`);
    }
    const warnings = plan.preflight.filter((c) => c.severity === 'warning');
    if (warnings.length > 0) {
      out.push('', '  Warnings (what the node relied on and is not carried; the migration goes on):');
      for (const c of warnings) out.push(`    WARN  ${c.name}: ${c.message}`);
    }
    const { evict, skip, refuse, blocking } = plan.pods;
    if (evict.length + skip.length + refuse.length > 0) {
      out.push('', '  Pods on the node:');
      const blocked = new Map(blocking.map((b) => [b.pod, b]));
      for (const p of evict) {
        const b = blocked.get(p.pod);
        const why = b ? `  BLOCKED${b.budget ? ` by PodDisruptionBudget ${b.budget}` : ''}: ${b.reason}` : '';
        out.push(`    evict   ${p.pod} (${p.owner})${why}`);
      }
      for (const p of skip) out.push(`    skip    ${p.pod} (${p.owner}): ${p.reason}`);
      for (const p of refuse) out.push(`    REFUSE  ${p.pod} (${p.owner}): ${p.reason}`);
    } else if (plan.steps.some((s) => s.action === 'drain')) {
      out.push('', '  Pods on the node: none');
    }
    if (plan.steps.some((s) => s.action === 'drain')) {
      out.push(`    (the drain may take ${plan.drainTimeoutSeconds}s in all, across attempts: drain.timeoutSeconds; then the node is rolled back)`);
    }
    if (plan.steps.length > 0) {
      out.push('', '  Steps, in order:');
      plan.steps.forEach((step, i) => {
        out.push(`    ${i + 1}. ${step.action} (${step.reason})`);
        for (const c of step.changes) {
          if (c.kind === 'command') out.push(renderCommand(c.command, '         '));
          else if (c.kind === 'write') out.push(`         write ${c.path} (mode ${c.mode}; diff below)`);
          else out.push(`         ${c.description}`);
        }
      });
    }
    const changed = plan.files.filter((f) => f.diff !== '');
    if (plan.files.length > 0) {
      out.push('', `  Files (${changed.length} changed${plan.files.length > changed.length ? `, ${plan.files.length - changed.length} rewritten unchanged` : ''}):`);
      for (const f of changed) out.push(indent(f.diff.replace(/\n$/, ''), '    '));
    }
    const patch = plan.nodePatch;
    const entries = [
      ...Object.entries(patch.labels).map(([k, v]) => `label       ${k}: ${v === null ? '(removed)' : JSON.stringify(v)}`),
      ...Object.entries(patch.annotations).map(([k, v]) => `annotation  ${k}: ${v === null ? '(removed)' : JSON.stringify(v)}`),
      ...(patch.unschedulable !== undefined ? [`spec        unschedulable: ${patch.unschedulable}`] : []),
    ];
    if (entries.length > 0) {
      out.push('', '  Node patch (net change of labels and annotations at the end):');
      for (const e of entries) out.push(`    ${e}`);
    }
    out.push('');
  }
  const bad = plans.filter((p) => !p.ok);
  out.push(
    bad.length === 0
      ? `Nothing was changed. To carry this out: cri-migrator migrate ${plans.map((p) => p.node).join(' ')}`
      : `Nothing was changed. ${bad.length} of ${plans.length} node(s) would not migrate: ${bad.map((p) => p.node).join(', ')}.`,
  );
  // Names, annotations, file contents and errors come from the cluster: no control character reaches the terminal.
  return printable(maskUrlCredentials(`${out.join('\n')}\n`));
}

export function renderPlanJson(plans: readonly NodePlan[]): string {
  return maskUrlCredentials(`${JSON.stringify({ apiVersion: 'cri-migrator.dev/v1alpha1', kind: 'Plan', changed: false, nodes: plans }, null, 2)}\n`);
}
