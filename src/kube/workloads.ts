// WorkloadLister over the Kubernetes API (read only): every pod's hostPath volumes, and the pod
// templates of the workloads that make pods (a CronJob between runs, a Deployment scaled to 0
// still will). ReplicaSets of a Deployment and Jobs of a CronJob are left to their owners.
import { AppsV1Api, BatchV1Api, type CoreV1Api, type KubeConfig, type V1ObjectMeta, type V1Pod, type V1PodTemplateSpec } from '@kubernetes/client-node';
import type { PodHostPaths, WorkloadHostPaths, WorkloadLister } from '../ports.js';
import { conciseApiErrors } from './convert.js';

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

export function toWorkloadHostPaths(kind: string, metadata: V1ObjectMeta | undefined, template: V1PodTemplateSpec | undefined): WorkloadHostPaths {
  return {
    kind,
    namespace: metadata?.namespace ?? '',
    name: metadata?.name ?? '',
    hostPaths: (template?.spec?.volumes ?? []).flatMap((v) => (v.hostPath ? [{ volume: v.name, path: v.hostPath.path }] : [])),
  };
}

const ownedBy = (metadata: V1ObjectMeta | undefined, kind: string) => (metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.kind === kind);

/** Every page of a list. */
async function all<T>(list: (page: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { _continue?: string } }>): Promise<T[]> {
  const out: T[] = [];
  let _continue: string | undefined;
  do {
    const page = await list({ limit: 500, ...(_continue ? { _continue } : {}) });
    out.push(...page.items);
    _continue = page.metadata?._continue || undefined;
  } while (_continue);
  return out;
}

export class KubeWorkloadLister implements WorkloadLister {
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;

  constructor(
    private readonly core: CoreV1Api,
    kc: KubeConfig,
  ) {
    this.apps = conciseApiErrors(kc.makeApiClient(AppsV1Api));
    this.batch = conciseApiErrors(kc.makeApiClient(BatchV1Api));
  }

  async listPodHostPaths(): Promise<PodHostPaths[]> {
    try {
      return (await all((p) => this.core.listPodForAllNamespaces(p))).map(toPodHostPaths);
    } catch (err) {
      throw new Error('listing pods in all namespaces failed', { cause: err });
    }
  }

  async listWorkloadHostPaths(): Promise<WorkloadHostPaths[]> {
    try {
      const [deployments, statefulSets, daemonSets, replicaSets, jobs, cronJobs] = await Promise.all([
        all((p) => this.apps.listDeploymentForAllNamespaces(p)),
        all((p) => this.apps.listStatefulSetForAllNamespaces(p)),
        all((p) => this.apps.listDaemonSetForAllNamespaces(p)),
        all((p) => this.apps.listReplicaSetForAllNamespaces(p)),
        all((p) => this.batch.listJobForAllNamespaces(p)),
        all((p) => this.batch.listCronJobForAllNamespaces(p)),
      ]);
      return [
        ...deployments.map((d) => toWorkloadHostPaths('Deployment', d.metadata, d.spec?.template)),
        ...statefulSets.map((d) => toWorkloadHostPaths('StatefulSet', d.metadata, d.spec?.template)),
        ...daemonSets.map((d) => toWorkloadHostPaths('DaemonSet', d.metadata, d.spec?.template)),
        ...replicaSets.filter((r) => !ownedBy(r.metadata, 'Deployment')).map((r) => toWorkloadHostPaths('ReplicaSet', r.metadata, r.spec?.template)),
        ...jobs.filter((j) => !ownedBy(j.metadata, 'CronJob')).map((j) => toWorkloadHostPaths('Job', j.metadata, j.spec?.template)),
        ...cronJobs.map((c) => toWorkloadHostPaths('CronJob', c.metadata, c.spec?.jobTemplate?.spec?.template)),
      ];
    } catch (err) {
      throw new Error('listing the workloads (deployments, statefulsets, daemonsets, replicasets, jobs, cronjobs) failed', { cause: err });
    }
  }
}
