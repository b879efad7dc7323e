// Dry run for the cluster: reads are real, changes are recorded (into the engine's one observer
// stream, in order) and kept in an overlay so the engine walks its whole path; evictions go to the
// API server with dryRun=All, so the plan shows which PodDisruptionBudgets would block, without
// evicting anything.
import { applyPatch } from '../domain/node-patch.js';
import { podKey, type BudgetView, type NodePatch, type NodeView, type PodView } from '../domain/types.js';
import type { DryRunRecord } from '../engine/observer.js';
import type { ControlPlaneApi, EventRecorder, EvictionOutcome, EvictOptions, NodeApi, PatchOptions, PodEvictor, SmokeTester, StaticPodView } from '../ports.js';

/** Where a recording port puts what it did not do. */
export type RecordSink = (node: string | undefined, record: DryRunRecord) => void;

export class RecordingNodeApi implements NodeApi {
  private readonly overlay = new Map<string, NodePatch[]>();
  constructor(
    private readonly inner: NodeApi,
    private readonly sink: RecordSink,
  ) {}

  private view(node: NodeView): NodeView {
    return (this.overlay.get(node.name) ?? []).reduce(applyPatch, node);
  }

  async get(name: string): Promise<NodeView> {
    return this.view(await this.inner.get(name));
  }

  async list(labelSelector?: string): Promise<NodeView[]> {
    return (await this.inner.list(labelSelector)).map((n) => this.view(n));
  }

  async patch(name: string, patch: NodePatch, options?: PatchOptions): Promise<NodeView> {
    const current = await this.get(name);
    if (options?.guard && !options.guard(current)) throw new Error(`${name}: state changed while planning`);
    this.sink(name, { kind: 'patch', patch });
    this.overlay.set(name, [...(this.overlay.get(name) ?? []), patch]);
    return this.get(name);
  }

  /** A plan cannot make the kubelet report anything: it records the wait and assumes success. */
  async waitFor(name: string, _predicate: (node: NodeView) => boolean, _timeoutMs: number, description: string): Promise<NodeView> {
    this.sink(name, { kind: 'wait', description });
    return this.get(name);
  }
}

export class RecordingEvictor implements PodEvictor {
  constructor(
    private readonly inner: PodEvictor,
    private readonly sink: RecordSink,
  ) {}

  listPodsOnNode(nodeName: string): Promise<PodView[]> {
    return this.inner.listPodsOnNode(nodeName);
  }

  async evict(pod: PodView, options: EvictOptions): Promise<EvictionOutcome> {
    const outcome = await this.inner.evict(pod, { ...options, dryRun: true });
    const budget = outcome.kind === 'blocked' && outcome.budget ? await this.inner.readBudget(pod.namespace, outcome.budget).catch(() => undefined) : undefined;
    this.sink(undefined, { kind: 'evict', pod: podKey(pod), outcome, ...(budget ? { budget } : {}) });
    // Blockers are reported in the plan; the plan itself does not wait for them.
    return { kind: 'accepted' };
  }

  async waitForDeletion(): Promise<PodView[]> {
    return [];
  }

  readBudget(namespace: string, name: string): Promise<BudgetView | undefined> {
    return this.inner.readBudget(namespace, name);
  }
}

export class RecordingEvents implements EventRecorder {
  constructor(private readonly sink: RecordSink) {}
  async record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    this.sink(nodeName, { kind: 'event', ...event });
  }
}

export class RecordingSmokeTester implements SmokeTester {
  constructor(private readonly sink: RecordSink) {}
  async run(nodeName: string, options: { image: string; after?: Promise<unknown> }): Promise<void> {
    // Shown where it is waited for: after the node's own waits.
    await options.after;
    this.sink(nodeName, { kind: 'smoke', image: options.image });
  }
}

/** Reads are real; a plan cannot make static pods restart, so their wait is recorded and assumed. */
export class RecordingControlPlane implements ControlPlaneApi {
  constructor(
    private readonly inner: ControlPlaneApi,
    private readonly sink: RecordSink,
  ) {}

  staticPods(): Promise<StaticPodView[]> {
    return this.inner.staticPods();
  }

  async waitForStaticPods(node: string, runtime: 'docker' | 'containerd', components: readonly string[]): Promise<void> {
    this.sink(node, { kind: 'wait', description: `running its static pods (${components.join(', ') || 'none'}) Ready on ${runtime}` });
  }
}
