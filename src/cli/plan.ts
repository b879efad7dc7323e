// The plan: what `migrate` would do to a node, gathered by running the engine with the dry-run
// strategy (withDryRun) and rendered for humans or as JSON. The recording is split into the steps
// the engine decided, in order; building and rendering are pure.
import type { Config } from '../config.js';
import { PREFIX } from '../domain/annotations.js';
import { podKey, type NodePatch, type NodeView, type PodView } from '../domain/types.js';
import type { DryRun } from '../dry-run.js';
import type { Decision } from '../engine/decide.js';
import { classifyPods } from '../engine/drain-filters.js';
import type { EngineObserver, PassResult } from '../engine/executor.js';
import type { CheckResult } from '../engine/preflight.js';
import type { ClusterRecord } from '../kube/dry-run.js';
import type { HostRecord } from '../remote/dry-run.js';
import { unifiedDiff } from './diff.js';

export type RestingPoint = Exclude<PassResult, { kind: 'progressed' }>;

/** driveNode only returns where a node rests (settled, or waiting); the type says so. */
export function restingPoint(result: PassResult): RestingPoint {
  if (result.kind === 'progressed') throw new Error(`${result.node}: the engine stopped mid-way at ${result.phase}`);
  return result;
}

/** The engine's decisions and everything recorded between them. */
export interface RecordedStep {
  action: string;
  target: string;
  reason: string;
  cluster: ClusterRecord[];
  host: HostRecord[];
}

/** Everything one dry run of one node produced: the input of buildNodePlan. */
export interface RecordedPlan {
  /** The node as read before anything (even the preparation) was recorded. */
  before: NodeView;
  /** The node as the dry-run overlay sees it at the end. */
  after: NodeView;
  preparation: { notes: string[]; refused?: string };
  /** driveNode's answer (it only returns resting points); undefined when the preparation refused. */
  result: RestingPoint | undefined;
  steps: RecordedStep[];
  preflight: CheckResult[];
  pods: PodView[];
  now: Date;
}

/** Collects the steps of one node's dry run: an EngineObserver marking where each decision starts. */
export class PlanRecorder implements EngineObserver {
  readonly preflightResults: CheckResult[] = [];
  private readonly marks: { decision: Extract<Decision, { kind: 'act' }>; cluster: number; host: number }[] = [];
  private start = { cluster: 0, host: 0 };

  constructor(private readonly dryRun: DryRun) {}

  private hostRecords(): HostRecord[] {
    return this.dryRun.hosts.flatMap((h) => h.host.records);
  }

  /** Records before this point belong to the preparation, not to a step. */
  begin(): void {
    this.start = { cluster: this.dryRun.cluster.records.length, host: this.hostRecords().length };
  }

  decided(_node: string, decision: Decision): void {
    if (decision.kind !== 'act') return;
    const first = this.marks.length === 0;
    // The admission writes its intent before the decision is reported: it belongs to the first step.
    this.marks.push({
      decision,
      cluster: first ? this.start.cluster : this.dryRun.cluster.records.length,
      host: first ? this.start.host : this.hostRecords().length,
    });
  }

  preflight(_node: string, results: readonly CheckResult[]): void {
    this.preflightResults.splice(0, this.preflightResults.length, ...results);
  }

  steps(): RecordedStep[] {
    const cluster = this.dryRun.cluster.records;
    const host = this.hostRecords();
    return this.marks.map((mark, i) => {
      const next = this.marks[i + 1];
      return {
        action: mark.decision.action,
        target: mark.decision.target,
        reason: mark.decision.reason,
        cluster: cluster.slice(mark.cluster, next ? next.cluster : cluster.length),
        host: host.slice(mark.host, next ? next.host : host.length),
      };
    });
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
  preflight: CheckResult[];
  pods: { evict: PodEntry[]; skip: PodEntry[]; refuse: PodEntry[]; blocking: BlockingPod[] };
  steps: PlanStep[];
  files: FileChange[];
  /** Net change of the node's labels and annotations (null: removed), and of spec.unschedulable. */
  nodePatch: { labels: Record<string, string | null>; annotations: Record<string, string | null>; unschedulable?: boolean };
  events: { type: string; reason: string; message: string }[];
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

function describeCluster(record: ClusterRecord): string[] {
  switch (record.kind) {
    case 'patch':
      return describePatch(record.patch);
    case 'wait':
      return [`wait until the node is ${record.description}`];
    case 'evict': {
      const o = record.outcome;
      if (o.kind === 'accepted') return [`evict ${record.pod}`];
      if (o.kind === 'gone') return [`evict ${record.pod} (already gone)`];
      return [`evict ${record.pod}: BLOCKED${o.budget ? ` by PodDisruptionBudget ${o.budget}` : ''} (${o.reason}); the drain waits and retries`];
    }
    case 'smoke':
      return [`run a smoke pod on the node (image ${record.image}) and wait for Running`];
    case 'event':
      return [];
  }
}

const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

export function buildNodePlan(recorded: RecordedPlan, config: Config): NodePlan {
  const { before, after, result } = recorded;
  const allCluster = recorded.steps.flatMap((s) => s.cluster);
  const allHost = recorded.steps.flatMap((s) => s.host);

  const classified = classifyPods(recorded.pods, config.drain, recorded.now);
  const entry = (pod: PodView, reason?: string): PodEntry => ({ pod: podKey(pod), owner: ownerOf(pod), ...(reason ? { reason } : {}) });
  const blocking = new Map<string, BlockingPod>();
  for (const r of allCluster) {
    if (r.kind === 'evict' && r.outcome.kind === 'blocked') {
      blocking.set(r.pod, { pod: r.pod, reason: r.outcome.reason, ...(r.outcome.budget ? { budget: r.outcome.budget } : {}) });
    }
  }

  // One diff per file: from what is on the node now to what the last write leaves.
  const files = new Map<string, { before: string | null; after: string; mode: number }>();
  for (const r of allHost) {
    if (r.kind !== 'write') continue;
    const seen = files.get(r.path);
    files.set(r.path, { before: seen ? seen.before : r.before, after: r.after, mode: r.mode });
  }

  const steps: PlanStep[] = recorded.steps.map((s) => {
    const host: PlanChange[] = s.host.map((r) =>
      r.kind === 'exec' ? { kind: 'command', command: r.command } : { kind: 'write', path: r.path, mode: mode(r.mode) },
    );
    const api = (records: ClusterRecord[]): PlanChange[] =>
      records.flatMap((r) => describeCluster(r).map((description) => ({ kind: 'api' as const, description })));
    // The two recorders keep separate lists. Within one step the engine works on the host first and
    // on the Node after (annotations, waits, smoke pod, uncordon), except for cordoning and
    // evicting, which have no host part: that order is restored here.
    const leading = (r: ClusterRecord) => r.kind === 'evict' || (r.kind === 'patch' && r.patch.unschedulable === true);
    return {
      action: s.action,
      target: s.target,
      reason: s.reason,
      changes: [...api(s.cluster.filter(leading)), ...host, ...api(s.cluster.filter((r) => !leading(r)))],
    };
  });

  const phase = result?.kind === 'settled' ? result.phase : undefined;
  let ok: boolean;
  let summary: string;
  if (recorded.preparation.refused) {
    ok = false;
    summary = `refused: ${recorded.preparation.refused}`;
  } else if (result === undefined) {
    ok = false;
    summary = 'no plan';
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

  const events = allCluster.flatMap((r) => (r.kind === 'event' ? [{ type: r.type, reason: r.reason, message: r.message }] : []));
  return {
    node: before.name,
    runtime: before.containerRuntimeVersion,
    kubelet: before.kubeletVersion,
    ok,
    summary,
    preparation: recorded.preparation.notes,
    preflight: recorded.preflight,
    pods: {
      evict: classified.evict.map((p) => entry(p)),
      skip: classified.skip.map(({ pod, reason }) => entry(pod, reason)),
      refuse: classified.refuse.map(({ pod, reason }) => entry(pod, reason)),
      blocking: [...blocking.values()],
    },
    steps,
    files: [...files.entries()].map(([path, f]) => ({
      path,
      mode: mode(f.mode),
      change: f.before === null ? 'create' : f.before === f.after ? 'unchanged' : 'modify',
      diff: unifiedDiff(path, f.before, f.after),
    })),
    nodePatch: {
      labels: mapDiff(before.labels, after.labels),
      annotations: mapDiff(before.annotations, after.annotations),
      ...(after.unschedulable !== before.unschedulable ? { unschedulable: after.unschedulable } : {}),
    },
    events,
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
    if (plan.preflight.length > 0) {
      out.push('', '  Preflight checks:');
      const width = Math.max(...plan.preflight.map((c) => c.name.length));
      for (const c of plan.preflight) out.push(`    ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.message}`);
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
  return `${out.join('\n')}\n`;
}

export function renderPlanJson(plans: readonly NodePlan[]): string {
  return `${JSON.stringify({ apiVersion: 'cri-migrator.dev/v1alpha1', kind: 'Plan', changed: false, nodes: plans }, null, 2)}\n`;
}
