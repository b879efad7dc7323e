// WorkloadLister over the Kubernetes API: every pod's hostPath volumes (read only).
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { PodHostPaths, WorkloadLister } from '../ports.js';

export function toPodHostPaths(pod: V1Pod): PodHostPaths {
  const owner = (pod.metadata?.ownerReferences ?? []).find((o) => o.controller === true);
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    nodeName: pod.spec?.nodeName ?? '',
    labels: { ...(pod.metadata?.labels ?? {}) },
    ...(owner ? { owner: { kind: owner.kind, name: owner.name } } : {}),
    hostPaths: (pod.spec?.volumes ?? []).flatMap((v) => (v.hostPath ? [{ volume: v.name, path: v.hostPath.path }] : [])),
  };
}

export class KubeWorkloadLister implements WorkloadLister {
  constructor(private readonly core: CoreV1Api) {}

  async listPodHostPaths(): Promise<PodHostPaths[]> {
    const out: PodHostPaths[] = [];
    let _continue: string | undefined;
    try {
      do {
        const page = await this.core.listPodForAllNamespaces({ limit: 500, ...(_continue ? { _continue } : {}) });
        out.push(...page.items.map(toPodHostPaths));
        _continue = page.metadata?._continue || undefined;
      } while (_continue);
    } catch (err) {
      throw new Error('listing pods in all namespaces failed', { cause: err });
    }
    return out;
  }
}
