// What one node's admission looks at across the cluster, computed the same way for the
// controller, the CLI and `status`: nodes in flight (state or a live claim), Ready nodes, and the
// rollout's facts (halts, pause, blocking pods, what the canary migrated).
import { ANNOTATIONS, parseState } from '../domain/annotations.js';
import { isLive, parseClaim } from '../domain/claim.js';
import type { NodeView } from '../domain/types.js';
import type { Config } from '../config.js';
import type { ControlPlaneApi, NodeApi, RolloutStore, StaticPodView } from '../ports.js';
import { isControlPlane, isMigrating, runtimeOf, type ClusterView } from './decide.js';
import type { RolloutView } from './rollout.js';

/** A node counts against concurrency while it is mid-migration or someone holds a live claim on it. */
export function inFlight(node: NodeView, now: Date): boolean {
  return midMigration(node) || isLive(parseClaim(node.annotations), now);
}

function midMigration(node: NodeView): boolean {
  const parsed = parseState(node.annotations);
  return parsed.ok && isMigrating(parsed.state);
}

/**
 * Whether `other` takes a slot ahead of `self` when `self` asks to start. A node mid-migration
 * always does. A node that is only claimed (a `migrate` that labelled and claimed it, not started
 * yet) does when its claim is older than self's (a node without a live claim would claim now), the
 * name breaking a tie: two claimed nodes waiting for one slot would otherwise each wait for the
 * other for ever, and this way the oldest claim starts and the rest follow in claim order.
 */
export function inFlightBefore(other: NodeView, self: NodeView, now: Date): boolean {
  if (midMigration(other)) return true;
  const claim = parseClaim(other.annotations);
  if (!isLive(claim, now)) return false;
  const own = parseClaim(self.annotations);
  const ownSince = isLive(own, now) ? own!.since.getTime() : now.getTime();
  const since = claim!.since.getTime();
  return since < ownSince || (since === ownSince && other.name < self.name);
}

/** Rollout-wide facts kept off the nodes. */
export interface RolloutExtras {
  paused: RolloutView['paused'];
  blockingPods: readonly string[];
}

export function rolloutViewOf(all: readonly NodeView[], extras: RolloutExtras): RolloutView {
  const halts: RolloutView['halts'][number][] = [];
  const migrated: RolloutView['migrated'][number][] = [];
  for (const n of all) {
    const halt = n.annotations[ANNOTATIONS.halt];
    if (halt !== undefined) halts.push({ node: n.name, reason: halt });
    const parsed = parseState(n.annotations);
    if (parsed.ok && parsed.state.phase === 'Succeeded' && parsed.state.startedAt && parsed.state.finishedAt) {
      migrated.push({ node: n.name, finishedAt: parsed.state.finishedAt, healthy: n.ready && runtimeOf(n) === 'containerd' });
    }
  }
  return { halts, migrated, ...extras };
}

export function clusterViewOf(
  all: readonly NodeView[],
  self: NodeView,
  now: Date,
  extras: RolloutExtras,
  by: ClusterView['by'],
  staticPods?: readonly StaticPodView[],
): ClusterView {
  const others = all.filter((n) => n.name !== self.name);
  const ahead = others.filter((n) => inFlightBefore(n, self, now));
  const controlPlanes = all.filter(isControlPlane);
  return {
    readyOtherNodes: others.filter((n) => n.ready).length,
    inFlightOtherNodes: ahead.map((n) => n.name),
    rollout: rolloutViewOf(all, extras),
    by,
    ...(staticPods
      ? {
          controlPlane: {
            nodes: controlPlanes.map((n) => n.name),
            staticPods,
            inFlight: ahead.filter(isControlPlane).map((n) => n.name),
          },
        }
      : {}),
  };
}

/** The rollout-wide facts that are not on the nodes, read when a node asks to start. */
export async function rolloutExtras(deps: { rollout: RolloutStore; config: Config }): Promise<RolloutExtras> {
  const selector = deps.config.rollout.blockingPodSelector;
  const [paused, blockingPods] = await Promise.all([deps.rollout.readPause(), selector ? deps.rollout.podsMatching(selector, 5) : Promise.resolve([])]);
  return { paused, blockingPods };
}

export async function clusterView(
  deps: { nodes: NodeApi; rollout: RolloutStore; config: Config; controlPlane: ControlPlaneApi; actor: { kind: ClusterView['by'] } },
  self: NodeView,
  now: Date,
): Promise<ClusterView> {
  const [all, extras, staticPods] = await Promise.all([
    deps.nodes.list(),
    rolloutExtras(deps),
    // Only a control-plane node's admission looks at etcd and the static pods.
    isControlPlane(self) ? deps.controlPlane.staticPods() : Promise.resolve(undefined),
  ]);
  return clusterViewOf(all, self, now, extras, deps.actor.kind, staticPods);
}

