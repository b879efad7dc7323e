// Dry run for the cluster: reads are real, changes are recorded and kept in an overlay so the
// engine walks its whole path; evictions go to the API server with dryRun=All, so the plan shows
// which PodDisruptionBudgets would block, without evicting anything.
import { podKey, type NodePatch, type NodeView, type PodView } from '../domain/types.js';
import { applyPatch } from '../domain/node-patch.js';
import type { EventRecorder, EvictionOutcome, EvictOptions, NodeApi, PatchOptions, PodEvictor, SmokeTester } from '../ports.js';

export type ClusterRecord =
  | { kind: 'patch'; node: string; patch: NodePatch }
  | { kind: 'wait'; node: string; description: string }
  | { kind: 'evict'; pod: string; outcome: EvictionOutcome }
  | { kind: 'event'; node: string; type: string; reason: string; message: string }
  | { kind: 'smoke'; node: string; image: string };

export class ClusterRecorder {
  readonly records: ClusterRecord[] = [];
}

export class RecordingNodeApi implements NodeApi {
  private readonly overlay = new Map<string, NodePatch[]>();
  constructor(
    private readonly inner: NodeApi,
    private readonly recorder: ClusterRecorder,
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
    this.recorder.records.push({ kind: 'patch', node: name, patch });
    this.overlay.set(name, [...(this.overlay.get(name) ?? []), patch]);
    return this.get(name);
  }

  /** A plan cannot make the kubelet report anything: it records the wait and assumes success. */
  async waitFor(name: string, _predicate: (node: NodeView) => boolean, _timeoutMs: number, description: string): Promise<NodeView> {
    this.recorder.records.push({ kind: 'wait', node: name, description });
    return this.get(name);
  }
}

export class RecordingEvictor implements PodEvictor {
  constructor(
    private readonly inner: PodEvictor,
    private readonly recorder: ClusterRecorder,
  ) {}

  listPodsOnNode(nodeName: string): Promise<PodView[]> {
    return this.inner.listPodsOnNode(nodeName);
  }

  async evict(pod: PodView, options: EvictOptions): Promise<EvictionOutcome> {
    const outcome = await this.inner.evict(pod, { ...options, dryRun: true });
    this.recorder.records.push({ kind: 'evict', pod: podKey(pod), outcome });
    // Blockers are reported in the plan; the plan itself does not wait for them.
    return { kind: 'accepted' };
  }

  async waitForDeletion(): Promise<PodView[]> {
    return [];
  }
}

export class RecordingEvents implements EventRecorder {
  constructor(private readonly recorder: ClusterRecorder) {}
  async record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    this.recorder.records.push({ kind: 'event', node: nodeName, ...event });
  }
}

export class RecordingSmokeTester implements SmokeTester {
  constructor(private readonly recorder: ClusterRecorder) {}
  async run(nodeName: string, options: { image: string }): Promise<void> {
    this.recorder.records.push({ kind: 'smoke', node: nodeName, image: options.image });
  }
}
