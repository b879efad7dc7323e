// Which pods a drain evicts, skips or refuses: an ordered pipeline of pure filters with typed
// verdicts, after k8s.io/kubectl/pkg/drain. The first filter with an opinion decides.
import type { Config } from '../config.js';
import { matchesSelector, parseSelector, type Requirement } from '../domain/selector.js';
import { podKey, type PodView } from '../domain/types.js';

export type Verdict =
  | { action: 'evict'; reason?: string }
  | { action: 'skip'; reason: string }
  | { action: 'refuse'; reason: string };

export interface FilterContext {
  drain: Config['drain'];
  podSelector: readonly Requirement[];
  now: Date;
}

/** Returns a verdict, or undefined to let the next filter decide. */
export type PodFilter = (pod: PodView, context: FilterContext) => Verdict | undefined;

const isFinished = (pod: PodView) => pod.phase === 'Succeeded' || pod.phase === 'Failed';

export const skipDeleted: PodFilter = (pod, { drain, now }) => {
  if (!pod.deletionTimestamp || drain.skipWaitForDeleteTimeoutSeconds === 0) return undefined;
  const deletedForMs = now.getTime() - pod.deletionTimestamp.getTime();
  return deletedForMs > drain.skipWaitForDeleteTimeoutSeconds * 1000
    ? { action: 'skip', reason: `deleted ${Math.round(deletedForMs / 1000)}s ago, past skipWaitForDeleteTimeoutSeconds` }
    : undefined;
};

export const skipMirror: PodFilter = (pod) =>
  pod.mirror ? { action: 'skip', reason: 'mirror pod of a static pod (the kubelet owns it)' } : undefined;

export const skipUnselected: PodFilter = (pod, { podSelector }) =>
  podSelector.length > 0 && !matchesSelector(pod.labels, podSelector)
    ? { action: 'skip', reason: 'does not match drain.podSelector' }
    : undefined;

export const skipDaemonSet: PodFilter = (pod) =>
  pod.controllers.some((c) => c.kind === 'DaemonSet')
    ? { action: 'skip', reason: 'managed by a DaemonSet (it would be recreated on this node)' }
    : undefined;

// Finished pods hold nothing worth protecting: kubectl deletes them even if unmanaged or with emptyDir.
export const evictFinished: PodFilter = (pod) => (isFinished(pod) ? { action: 'evict', reason: `finished (${pod.phase})` } : undefined);

// A pod annotated safe-to-evict (cluster-autoscaler's convention) declares its emptyDir scratch:
// cri-migrator's own replicas do, so a drain of the node the leader runs on is not refused.
export const refuseEmptyDir: PodFilter = (pod, { drain }) =>
  pod.usesEmptyDir && !drain.deleteEmptyDirData && !pod.safeToEvict
    ? { action: 'refuse', reason: 'uses emptyDir (its data would be lost): set drain.deleteEmptyDirData to allow' }
    : undefined;

export const refuseUnmanaged: PodFilter = (pod, { drain }) =>
  pod.controllers.length === 0 && !drain.force
    ? { action: 'refuse', reason: 'not managed by a controller (it would not come back): set drain.force to allow' }
    : undefined;

export const DRAIN_FILTERS: readonly PodFilter[] = [
  skipDeleted,
  skipMirror,
  skipUnselected,
  skipDaemonSet,
  evictFinished,
  refuseEmptyDir,
  refuseUnmanaged,
];

export interface Classified {
  evict: PodView[];
  skip: { pod: PodView; reason: string }[];
  refuse: { pod: PodView; reason: string }[];
}

export function classifyPod(pod: PodView, context: FilterContext, filters: readonly PodFilter[] = DRAIN_FILTERS): Verdict {
  for (const filter of filters) {
    const verdict = filter(pod, context);
    if (verdict) return verdict;
  }
  return { action: 'evict' };
}

export function classifyPods(pods: readonly PodView[], drain: Config['drain'], now: Date): Classified {
  const context: FilterContext = { drain, podSelector: parseSelector(drain.podSelector), now };
  const out: Classified = { evict: [], skip: [], refuse: [] };
  for (const pod of pods) {
    const verdict = classifyPod(pod, context);
    if (verdict.action === 'evict') out.evict.push(pod);
    else out[verdict.action].push({ pod, reason: verdict.reason });
  }
  return out;
}

export function describeRefusals(refused: Classified['refuse']): string {
  return refused.map(({ pod, reason }) => `${podKey(pod)} ${reason}`).join('; ');
}
