// Whether a node's control-plane static pods run Ready on a runtime. Pure.
import type { StaticPodView } from '../ports.js';

/** The control-plane components that run as static pods on a kubeadm control-plane node. */
export const STATIC_COMPONENTS: readonly string[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** Why the node's static pods are not settled on the runtime yet, or undefined when every one is Ready on it. */
export function staticPodsUnsettled(pods: readonly StaticPodView[], node: string, runtime: 'docker' | 'containerd', expected: readonly string[]): string | undefined {
  const own = pods.filter((p) => p.node === node);
  const missing = expected.filter((c) => !own.some((p) => p.component === c));
  const wrong = own.filter((p) => !p.ready || p.runtime !== runtime).map((p) => `${p.component} (${p.ready ? 'Ready' : 'not Ready'}${p.runtime ? ` on ${p.runtime}` : ''})`);
  if (missing.length === 0 && wrong.length === 0) return undefined;
  return [...missing.map((c) => `${c} (no pod yet)`), ...wrong].join(', ');
}
