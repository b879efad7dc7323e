// PodEvictor over the Kubernetes API: pods listed by spec.nodeName, evicted through policy/v1
// Eviction (with the pod's uid as precondition), deletions observed by watch.
import { setTimeout as delay } from 'node:timers/promises';
import type { CoreV1Api, PolicyV1Api, V1Pod, Watch } from '@kubernetes/client-node';
import { podKey, type BudgetView, type PodView } from '../domain/types.js';
import type { EvictionOutcome, EvictOptions, PodEvictor } from '../ports.js';
import { statusBody, statusCode, toBudgetView, toPodView } from './convert.js';
import { watchOnce } from './watch.js';

/** "The disruption budget web-pdb needs 2 healthy pods..." -> web-pdb */
export function budgetFromStatus(status: ReturnType<typeof statusBody>): string | undefined {
  for (const cause of status.details?.causes ?? []) {
    const match = /disruption budget ([a-z0-9.-]+)/i.exec(cause.message ?? '');
    if (match) return match[1];
  }
  return undefined;
}

/** A list of a node's pods as young as this gives the watch for their deletions its start. */
const LIST_REUSE_MS = 30_000;

export class KubePodEvictor implements PodEvictor {
  /** The last list of each node's pods (its resourceVersion, the uids in it), for the deletion watch that follows it. */
  private readonly listed = new Map<string, { resourceVersion: string; uids: Set<string | undefined>; at: number }>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly policy: PolicyV1Api,
    private readonly watch: Watch,
  ) {}

  async readBudget(namespace: string, name: string): Promise<BudgetView | undefined> {
    try {
      return toBudgetView(await this.policy.readNamespacedPodDisruptionBudget({ namespace, name }));
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw new Error(`reading PodDisruptionBudget ${namespace}/${name} failed`, { cause: err });
    }
  }

  async listPodsOnNode(nodeName: string): Promise<PodView[]> {
    try {
      const list = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` });
      const resourceVersion = list.metadata?.resourceVersion;
      // Lists no drain followed (refused, nothing to evict, a plan) are not kept past their use.
      for (const [node, entry] of this.listed) if (Date.now() - entry.at > LIST_REUSE_MS) this.listed.delete(node);
      if (resourceVersion) this.listed.set(nodeName, { resourceVersion, uids: new Set(list.items.map((p) => p.metadata?.uid)), at: Date.now() });
      return list.items.map(toPodView);
    } catch (err) {
      throw new Error(`listing the pods on ${nodeName} failed`, { cause: err });
    }
  }

  async evict(pod: PodView, options: EvictOptions): Promise<EvictionOutcome> {
    try {
      await this.core.createNamespacedPodEviction({
        name: pod.name,
        namespace: pod.namespace,
        ...(options.dryRun ? { dryRun: 'All' } : {}),
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: pod.name, namespace: pod.namespace },
          deleteOptions: {
            ...(options.gracePeriodSeconds !== null ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
            ...(pod.uid ? { preconditions: { uid: pod.uid } } : {}),
          },
        },
      });
      return { kind: 'accepted' };
    } catch (err) {
      const code = statusCode(err);
      // 404: already gone. 409: the uid precondition failed, so this pod was replaced and is gone.
      if (code === 404 || code === 409) return { kind: 'gone' };
      if (code === 429) {
        const status = statusBody(err);
        const budget = budgetFromStatus(status);
        return { kind: 'blocked', reason: status.message ?? 'too many requests', ...(budget ? { budget } : {}) };
      }
      throw new Error(`evicting ${podKey(pod)} failed${code ? ` (HTTP ${code})` : ''}`, { cause: err });
    }
  }

  async waitForDeletion(nodeName: string, pods: readonly PodView[], signal: AbortSignal): Promise<PodView[]> {
    const waiting = new Map(pods.map((p) => [p.uid, p]));
    // The drain's own list, taken moments ago, starts the first watch: every deletion since is in
    // it. Used once; a watch that fails (its resourceVersion expired, say) lists again below.
    const recent = this.listed.get(nodeName);
    this.listed.delete(nodeName);
    let first = recent !== undefined && Date.now() - recent.at <= LIST_REUSE_MS ? recent : undefined;
    while (waiting.size > 0 && !signal.aborted) {
      // List first: catches deletions that happened before the watch started, and gives its resourceVersion.
      let resourceVersion: string | undefined;
      try {
        let list: { resourceVersion?: string | undefined; uids: Set<string | undefined> };
        if (first) {
          list = first;
          first = undefined;
        } else {
          const fresh = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` });
          list = { resourceVersion: fresh.metadata?.resourceVersion, uids: new Set(fresh.items.map((p) => p.metadata?.uid)) };
        }
        for (const uid of [...waiting.keys()]) if (!list.uids.has(uid)) waiting.delete(uid);
        resourceVersion = list.resourceVersion;
      } catch (err) {
        throw new Error(`listing the pods on ${nodeName} failed`, { cause: err });
      }
      if (waiting.size === 0) break;
      try {
        await watchOnce<V1Pod>(
          this.watch,
          '/api/v1/pods',
          { fieldSelector: `spec.nodeName=${nodeName}`, ...(resourceVersion ? { resourceVersion } : {}) },
          (type, object) => {
            if (type === 'DELETED' && object.metadata?.uid) waiting.delete(object.metadata.uid);
            return waiting.size === 0;
          },
          signal,
        );
      } catch {
        // Expired resourceVersion or a dropped stream: pause, then list again and re-watch.
        await delay(1000, undefined, { signal }).catch(() => undefined);
      }
    }
    return [...waiting.values()];
  }
}
