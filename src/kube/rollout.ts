// RolloutStore over the Kubernetes API: the pause lives in the ConfigMap cri-migrator-rollout (in
// the Lease's namespace, or rollout.namespace), which `cri-migrator pause`/`resume` write and every
// actor reads before starting a node; blocking pods are a label-selector list across namespaces.
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import type { PauseState, RolloutStore } from '../ports.js';
import { statusCode } from './convert.js';

export const ROLLOUT_CONFIGMAP = 'cri-migrator-rollout';

export class KubeRolloutStore implements RolloutStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  async readPause(): Promise<PauseState | undefined> {
    let cm: V1ConfigMap;
    try {
      cm = await this.core.readNamespacedConfigMap({ namespace: this.namespace, name: ROLLOUT_CONFIGMAP });
    } catch (err) {
      if (statusCode(err) === 404) return undefined; // never paused (or no namespace yet)
      throw new Error(`reading ConfigMap ${this.namespace}/${ROLLOUT_CONFIGMAP} (the rollout's pause) failed`, { cause: err });
    }
    const data = cm.data ?? {};
    if (data['paused'] !== 'true') return undefined;
    const at = new Date(data['pausedAt'] ?? '');
    return { by: data['pausedBy'] ?? 'unknown', at: Number.isNaN(at.getTime()) ? new Date(0) : at, reason: data['reason'] ?? '' };
  }

  async writePause(pause: PauseState | undefined): Promise<void> {
    const data: Record<string, string> = pause
      ? { paused: 'true', pausedBy: pause.by, pausedAt: pause.at.toISOString(), reason: pause.reason }
      : { paused: 'false' };
    const body: V1ConfigMap = { metadata: { name: ROLLOUT_CONFIGMAP, namespace: this.namespace, labels: { 'app.kubernetes.io/name': 'cri-migrator' } }, data };
    try {
      await this.core.replaceNamespacedConfigMap({ namespace: this.namespace, name: ROLLOUT_CONFIGMAP, body });
    } catch (err) {
      if (statusCode(err) !== 404) throw new Error(`writing ConfigMap ${this.namespace}/${ROLLOUT_CONFIGMAP} failed`, { cause: err });
      try {
        await this.core.createNamespacedConfigMap({ namespace: this.namespace, body });
      } catch (createErr) {
        const missing = statusCode(createErr) === 404 ? `: the namespace ${this.namespace} does not exist (create it, or set rollout.namespace)` : '';
        throw new Error(`creating ConfigMap ${this.namespace}/${ROLLOUT_CONFIGMAP} failed${missing}`, { cause: createErr });
      }
    }
  }

  async podsMatching(selector: string, limit: number): Promise<string[]> {
    try {
      const list = await this.core.listPodForAllNamespaces({ labelSelector: selector, limit });
      return list.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
    } catch (err) {
      throw new Error(`listing pods matching ${selector} failed`, { cause: err });
    }
  }
}
