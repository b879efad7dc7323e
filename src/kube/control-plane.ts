// ControlPlaneApi over the Kubernetes API: the control plane's static pods, read through their
// mirror pods in kube-system (kubeadm labels them tier=control-plane, component=NAME). Their Ready
// condition is the kubelet running their own probes: etcd's health endpoint, the API server's
// /readyz on that node.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { causedBy, UnavailableError } from '../domain/errors.js';
import { staticPodsUnsettled } from '../domain/static-pods.js';
import type { Clock, ControlPlaneApi, StaticPodView } from '../ports.js';

export function toStaticPodView(pod: V1Pod): StaticPodView {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  return {
    node: pod.spec?.nodeName ?? '',
    component: pod.metadata?.labels?.['component'] ?? pod.metadata?.name ?? '',
    name: pod.metadata?.name ?? '',
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    runtime: id.includes('://') ? id.slice(0, id.indexOf('://')) : '',
  };
}

/** How often the static pods are looked at while they come back. */
const POLL_MS = 2_000;
/**
 * How long they must stay Ready before they count: right after the kubelet restarts, a mirror
 * pod can still carry the Ready of a moment before, and turn NotReady once the new kubelet
 * reports (seen once on a single control plane: verified Ready, NotReady a few seconds later).
 */
const STABLE_MS = 10_000;

export class KubeControlPlane implements ControlPlaneApi {
  constructor(
    private readonly core: CoreV1Api,
    private readonly clock: Clock,
  ) {}

  async waitForStaticPods(node: string, runtime: 'docker' | 'containerd', components: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = this.clock.now().getTime() + timeoutMs;
    let why = 'the API server did not answer';
    let settledSince: number | undefined;
    for (;;) {
      const pods = await this.staticPods().catch((err: unknown) => {
        if (causedBy(err, UnavailableError)) return undefined; // its own API server restarting: look again
        throw err;
      });
      if (pods) {
        const unsettled = staticPodsUnsettled(pods, node, runtime, components);
        if (unsettled === undefined) {
          settledSince ??= this.clock.now().getTime();
          if (this.clock.now().getTime() - settledSince >= STABLE_MS) return;
          why = `Ready for less than ${STABLE_MS / 1000}s`;
        } else {
          settledSince = undefined;
          why = unsettled;
        }
      }
      if (this.clock.now().getTime() >= deadline) {
        throw new Error(`the static pods of ${node} were not Ready on ${runtime} within ${Math.round(timeoutMs / 1000)}s: ${why}`);
      }
      await this.clock.sleep(POLL_MS, signal);
    }
  }

  async staticPods(): Promise<StaticPodView[]> {
    try {
      const list = await this.core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'tier=control-plane' });
      return list.items.map(toStaticPodView);
    } catch (err) {
      throw new Error('listing the control plane\'s static pods (kube-system, tier=control-plane) failed', { cause: err });
    }
  }
}
