// The verification pod: pinned to the node (nodeName bypasses the cordon), tolerating every taint,
// running the sandbox image that every node already has; Running within the limit, then deleted.
import type { CoreV1Api, V1Pod, Watch } from '@kubernetes/client-node';
import type { Clock, SmokeTester } from '../ports.js';
import { statusBody, statusCode } from './convert.js';
import { watchOnce } from './watch.js';

export class KubeSmokeTester implements SmokeTester {
  constructor(
    private readonly core: CoreV1Api,
    private readonly watch: Watch,
    private readonly clock: Clock,
  ) {}

  async run(nodeName: string, options: { image: string; namespace: string; timeoutMs: number; after?: Promise<unknown> }): Promise<void> {
    const { namespace } = options;
    let created: V1Pod;
    try {
      created = await this.createPod(nodeName, options.image, namespace);
    } catch (err) {
      // Only a CLI run against a cluster without our manifests gets here; in-cluster the namespace
      // ships with them (and the ServiceAccount may not read namespaces).
      if (!isMissingNamespace(err)) throw new Error(`creating the smoke pod in ${namespace} failed`, { cause: err });
      await this.createNamespace(namespace);
      created = await this.createPod(nodeName, options.image, namespace).catch((retryErr: unknown) => {
        throw new Error(`creating the smoke pod in ${namespace} failed`, { cause: retryErr });
      });
    }
    const name = created.metadata!.name!;
    const stop = new AbortController();
    // The time limit starts once `after` resolves (the node Ready); `after` rejecting ends the wait.
    let givenUp = false;
    const deadline = (options.after ?? Promise.resolve()).then(
      () =>
        this.clock.sleep(options.timeoutMs, stop.signal).then(
          () => stop.abort(),
          () => undefined,
        ),
      () => {
        givenUp = true;
        stop.abort();
      },
    );
    let last: V1Pod = created;
    try {
      for (;;) {
        if (last.status?.phase === 'Running') return;
        if (last.status?.phase === 'Failed' || last.status?.phase === 'Succeeded') {
          throw new Error(`smoke pod ${namespace}/${name} ended ${last.status.phase}: ${describeStatus(last)}${await this.warnings(namespace, name)}`);
        }
        const end = await watchOnce<V1Pod>(
          this.watch,
          `/api/v1/namespaces/${namespace}/pods`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: last.metadata?.resourceVersion },
          (type, pod) => {
            if (type === 'ADDED' || type === 'MODIFIED') last = pod;
            return pod.status?.phase !== undefined && pod.status.phase !== 'Pending';
          },
          stop.signal,
        ).catch(() => 'ended' as const);
        if (end === 'aborted' && givenUp) throw new Error(`smoke pod ${namespace}/${name} given up: the node did not verify`);
        if (end === 'aborted') {
          throw new Error(
            `smoke pod ${namespace}/${name} not Running on ${nodeName} within ${Math.round(options.timeoutMs / 1000)}s: ${describeStatus(last)}${await this.warnings(namespace, name)}`,
          );
        }
        if (end === 'ended') last = await this.core.readNamespacedPod({ name, namespace });
      }
    } finally {
      stop.abort();
      await deadline;
      await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch((err: unknown) => {
        if (statusCode(err) !== 404) throw new Error(`deleting smoke pod ${namespace}/${name} failed`, { cause: err });
      });
    }
  }

  /**
   * What the kubelet said about the pod: a sandbox or image that cannot be pulled shows only in
   * its Events ("failed to pull image ..."), never in its status.
   */
  private async warnings(namespace: string, name: string): Promise<string> {
    try {
      const events = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${name}` });
      const messages = [...new Set(events.items.filter((e) => e.type === 'Warning').map((e) => `${e.reason}: ${e.message ?? ''}`.trim()))];
      return messages.length ? `; events: ${messages.slice(-3).join('; ')}` : '';
    } catch {
      return ''; // the reason we have is enough; the events are a courtesy
    }
  }

  private createPod(nodeName: string, image: string, namespace: string): Promise<V1Pod> {
    return this.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          generateName: `cri-migrator-smoke-${nodeName.slice(0, 30)}-`,
          labels: { 'app.kubernetes.io/name': 'cri-migrator-smoke', 'cri-migrator.dev/node': nodeName.slice(0, 63) },
        },
        spec: {
          nodeName,
          restartPolicy: 'Never',
          tolerations: [{ operator: 'Exists' }],
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'smoke', image, imagePullPolicy: 'IfNotPresent' }],
        },
      },
    });
  }

  private async createNamespace(namespace: string): Promise<void> {
    try {
      await this.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'cri-migrator' } } } });
    } catch (err) {
      if (statusCode(err) === 409) return;
      throw new Error(`namespace ${namespace} for the smoke pod does not exist and cannot be created: create it, or set smoke.namespace`, { cause: err });
    }
  }
}

function isMissingNamespace(err: unknown): boolean {
  return statusCode(err) === 404 && statusBody(err).details?.kind === 'namespaces';
}

function describeStatus(pod: V1Pod): string {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (waiting) return `${waiting.reason ?? 'waiting'}: ${waiting.message ?? ''}`.trim();
  if (terminated) return `${terminated.reason ?? 'terminated'} (exit ${terminated.exitCode})`;
  const condition = pod.status?.conditions?.find((c) => c.status !== 'True');
  return condition ? `${condition.type}: ${condition.reason ?? ''} ${condition.message ?? ''}`.trim() : (pod.status?.phase ?? 'no status');
}
