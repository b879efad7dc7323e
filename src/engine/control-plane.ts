// What a control-plane node needs beyond a worker's migration, pure: one control-plane node at a
// time, only while etcd keeps quorum without it, and, after the switch (or the rollback), every
// static pod of the node Ready on the new runtime before anything else moves.
import type { StaticPodView } from '../ports.js';

export { staticPodsUnsettled } from '../domain/static-pods.js';

export interface ControlPlaneView {
  /** The control-plane nodes (by their role label). */
  nodes: readonly string[];
  /** The control plane's static pods, as their mirror pods show them. */
  staticPods: readonly StaticPodView[];
  /** Other control-plane nodes mid-migration (or claimed). */
  inFlight: readonly string[];
}

export type ControlPlaneVerdict =
  | { kind: 'go'; notes: string[] }
  | { kind: 'wait'; reason: string }
  | { kind: 'refuse'; reason: string };

/** etcd members: the etcd static pods, one per control-plane node in a stacked control plane. */
export function etcdMembers(view: ControlPlaneView): { node: string; ready: boolean }[] {
  return view.staticPods.filter((p) => p.component === 'etcd').map((p) => ({ node: p.node, ready: p.ready }));
}

export function quorumOf(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** May this control-plane node start now? */
export function controlPlaneVerdict(node: string, view: ControlPlaneView, actor: 'controller' | 'cli'): ControlPlaneVerdict {
  const notes: string[] = [];
  const single = view.nodes.length <= 1;
  if (single) {
    if (actor === 'controller') {
      return {
        kind: 'refuse',
        reason:
          `${node} is the only control-plane node: its API server goes away while the node switches, and with it the controller's own connection. ` +
          `Migrate it from outside the cluster with the CLI, which rides the downtime out: cri-migrator migrate ${node}`,
      };
    }
    notes.push(
      `single control plane: the API server is unavailable from the kubelet's stop until its static pods run on containerd (the CLI waits it out, retrying the API for up to retries.unavailableTimeoutSeconds)`,
    );
  }
  if (view.inFlight.length > 0) {
    return { kind: 'wait', reason: `one control-plane node at a time: ${view.inFlight.join(', ')} is migrating` };
  }
  const members = etcdMembers(view);
  if (members.length === 0) {
    notes.push('no etcd static pods (external etcd?): etcd health is not checked here');
  } else if (!single) {
    const others = members.filter((m) => m.node !== node);
    const sick = others.filter((m) => !m.ready).map((m) => m.node);
    if (sick.length > 0) return { kind: 'wait', reason: `etcd member(s) on ${sick.join(', ')} not Ready: every other member must be healthy first` };
    const quorum = quorumOf(members.length);
    if (others.length < quorum) {
      return { kind: 'refuse', reason: `etcd would lose quorum with ${node} down: ${members.length} members, quorum ${quorum}, only ${others.length} other(s)` };
    }
    notes.push(`etcd: ${members.length} members, all others Ready; quorum ${quorum} holds with ${node} down (${others.length} left)`);
  }
  const own = view.staticPods.filter((p) => p.node === node).map((p) => p.component);
  if (own.length > 0) notes.push(`static pods to bring back on the new runtime: ${own.sort().join(', ')}`);
  return { kind: 'go', notes };
}

