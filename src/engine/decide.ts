// The per-node state machine: from what is observed now, the one next thing to do. Pure.
//
//   Pending -> Preflight -> Cordoned -> Drained -> RuntimeConfigured -> KubeletSwitched
//           -> Verified -> Uncordoned -> Succeeded
//   any phase --(error, retries exhausted)--> RollingBack -> RolledBack | Failed
//
// The executor writes `intent` (the phase being entered) before an action and the new `phase`
// after it, in one write with the next step's intent when that step follows at once; an intent
// still present means the action may have run partly, so it is run again: every action first
// checks whether its effect is already there.
import type { Config } from '../config.js';
import type { ParseResult } from '../domain/annotations.js';
import { CONTROL_PLANE_LABELS } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import { forwardIndex, TERMINAL_PHASES, type MigrationState, type NodeView, type Phase } from '../domain/types.js';
import { controlPlaneVerdict, type ControlPlaneView } from './control-plane.js';
import { canaryRoom, rolloutGate, type GateReason, type RolloutView } from './rollout.js';

export type ActionName =
  | 'preflight'
  | 'cordon'
  | 'drain'
  | 'configureRuntime'
  | 'switchKubelet'
  | 'verify'
  | 'uncordon'
  | 'finish'
  | 'adopt'
  | 'beginRollback'
  | 'rollback'
  | 'fail';

export interface ClusterView {
  /** Ready nodes other than this one. */
  readyOtherNodes: number;
  /** Other nodes mid-migration (phase or intent past Pending, not terminal) or claimed by a live actor. */
  inFlightOtherNodes: readonly string[];
  /** What the fleet policy looks at (rollout.ts). */
  rollout: RolloutView;
  /** Who decides: the controller refuses what only the CLI can ride out (a single control plane). */
  by: 'controller' | 'cli';
  /** For a control-plane node: the other control-plane nodes, their static pods (etcd). */
  controlPlane?: ControlPlaneView;
}

export interface Snapshot {
  node: NodeView;
  state: ParseResult;
  /** Only needed to admit a Pending node. */
  cluster?: ClusterView;
  /** The intent on the node was written ahead by this actor with the phase before it: nothing of it has run yet. */
  intentAhead?: boolean;
}

export type Decision =
  | { kind: 'none'; reason: string; /** Needs a human: worth a Warning event. */ warning?: boolean }
  | {
      kind: 'wait';
      reason: string;
      requeueAfterMs: number;
      /** The fleet policy holds every new node back, not just this one. */
      gate?: GateReason;
      /** The wait ends when a node leaves the in-flight set or becomes Ready: a watcher of the nodes need not poll. */
      slot?: true;
    }
  | { kind: 'act'; action: ActionName; target: Phase; reason: string; /** What admission checked, for the plan. */ notes?: string[] };

/** The action that enters each forward phase. */
export const ENTER_ACTION: Readonly<Partial<Record<Phase, ActionName>>> = {
  Preflight: 'preflight',
  Cordoned: 'cordon',
  Drained: 'drain',
  RuntimeConfigured: 'configureRuntime',
  KubeletSwitched: 'switchKubelet',
  Verified: 'verify',
  Uncordoned: 'uncordon',
  Succeeded: 'finish',
};

const NEXT: Readonly<Partial<Record<Phase, Phase>>> = {
  Pending: 'Preflight',
  Preflight: 'Cordoned',
  Cordoned: 'Drained',
  Drained: 'RuntimeConfigured',
  RuntimeConfigured: 'KubeletSwitched',
  KubeletSwitched: 'Verified',
  Verified: 'Uncordoned',
  Uncordoned: 'Succeeded',
};

/** Phases in which the node must stay cordoned. */
const HOLDS_CORDON: readonly Phase[] = ['Cordoned', 'Drained', 'RuntimeConfigured', 'KubeletSwitched', 'Verified'];

export const ADMISSION_RETRY_MS = 30_000;

export function isControlPlane(node: NodeView): boolean {
  return CONTROL_PLANE_LABELS.some((label) => Object.hasOwn(node.labels, label));
}

export function runtimeOf(node: NodeView): 'docker' | 'containerd' | 'other' {
  if (node.containerRuntimeVersion.startsWith('docker://')) return 'docker';
  if (node.containerRuntimeVersion.startsWith('containerd://')) return 'containerd';
  return 'other';
}

/** Counts against concurrency: started (intent or phase past Pending) and not finished. */
export function isMigrating(state: MigrationState): boolean {
  if (TERMINAL_PHASES.includes(state.phase)) return false;
  return state.phase !== 'Pending' || state.intent !== undefined;
}

/** A failed attempt's backoff still runs (next-attempt-at on the node): wait, whoever asks. */
function backoffWait(state: MigrationState, config: Config, now: Date, what: string): Decision | undefined {
  const next = state.nextAttemptAt;
  if (next === undefined || next.getTime() <= now.getTime()) return undefined;
  const counted = state.attempt > 0 ? `attempt ${state.attempt}/${config.retries.maxAttempts} failed` : 'it could not start';
  return {
    kind: 'wait',
    reason: `${what}: ${counted} (${state.lastError ?? 'no error recorded'}); next attempt at ${next.toISOString()}`,
    requeueAfterMs: next.getTime() - now.getTime(),
  };
}

export function decide(snapshot: Snapshot, config: Config, now: Date): Decision {
  const { node } = snapshot;
  if (!snapshot.state.ok) return { kind: 'none', reason: snapshot.state.error, warning: true };
  const state = snapshot.state.state;
  const exhausted = state.attempt >= config.retries.maxAttempts;

  switch (state.phase) {
    case 'Succeeded':
      return { kind: 'none', reason: 'migrated to containerd' };
    case 'RolledBack':
      return { kind: 'none', reason: `rolled back: ${state.rollbackReason ?? 'no reason recorded'}` };
    case 'Failed':
      return { kind: 'none', reason: `failed, needs a human: ${state.rollbackReason ?? state.lastError ?? 'no reason recorded'}`, warning: true };
    case 'RollingBack':
      if (exhausted) {
        return { kind: 'act', action: 'fail', target: 'Failed', reason: `rollback failed ${state.attempt} times: ${state.lastError ?? ''}` };
      }
      return (
        backoffWait(state, config, now, 'rolling back') ?? {
          kind: 'act',
          action: 'rollback',
          target: 'RolledBack',
          reason: state.rollbackReason ?? 'rolling back',
        }
      );
    case 'Pending':
      if (state.intent === undefined) {
        // Blocked (e.g. the node's sshd did not answer at preflight): nothing was changed; try later.
        const blocked = backoffWait(state, config, now, `blocked (${state.blockedBy ?? 'not started'})`);
        return blocked ?? admit(snapshot, config, now);
      }
      break;
    default:
      break;
  }

  const next = NEXT[state.phase];
  if (next === undefined) return { kind: 'none', reason: `phase ${state.phase} has no next step`, warning: true };
  if (state.intent !== undefined && state.intent !== next && state.intent !== state.phase) {
    return {
      kind: 'none',
      reason: `inconsistent state: phase ${state.phase} with intent ${state.intent}; fix the cri-migrator.dev/ annotations`,
      warning: true,
    };
  }

  if (state.intent !== undefined && exhausted) {
    const failing = state.intent;
    // A node already verified on containerd is not torn down because uncordon or labelling failed.
    if (config.rollback === 'never' || forwardIndex(failing) >= forwardIndex('Uncordoned')) {
      return { kind: 'act', action: 'fail', target: 'Failed', reason: `${failing} failed ${state.attempt} times: ${state.lastError ?? ''}` };
    }
    return { kind: 'act', action: 'beginRollback', target: 'RollingBack', reason: `${failing} failed ${state.attempt} times: ${state.lastError ?? ''}` };
  }

  // Someone uncordoned the node mid-migration: cordon it again before anything else.
  if (HOLDS_CORDON.includes(state.phase) && !node.unschedulable) {
    return { kind: 'act', action: 'cordon', target: state.phase, reason: 'node was uncordoned during the migration' };
  }

  const waiting = state.intent !== undefined ? backoffWait(state, config, now, `retrying ${state.intent}`) : undefined;
  if (waiting) return waiting;

  const action = ENTER_ACTION[next]!;
  const resumed = state.intent === undefined || snapshot.intentAhead ? '' : state.attempt > 0 ? ` (resuming: attempt ${state.attempt + 1})` : ' (resuming)';
  return { kind: 'act', action, target: next, reason: `${state.phase} -> ${next}${resumed}` };
}

function admit(snapshot: Snapshot, config: Config, now: Date): Decision {
  const { node } = snapshot;
  if (!matchesSelector(node.labels, config.selector)) return { kind: 'none', reason: `not selected by ${config.selector}` };
  const runtime = runtimeOf(node);
  if (runtime === 'containerd') {
    return { kind: 'act', action: 'adopt', target: 'Succeeded', reason: `already on ${node.containerRuntimeVersion}` };
  }
  if (runtime === 'other') {
    return {
      kind: 'none',
      reason: `runtime "${node.containerRuntimeVersion}" is neither docker:// nor containerd://; nothing to migrate`,
      warning: true,
    };
  }
  if (isControlPlane(node) && !config.allowControlPlane) {
    return { kind: 'none', reason: 'control-plane node: set allowControlPlane to migrate it', warning: true };
  }
  if (!node.ready) return { kind: 'wait', reason: 'node is not Ready; waiting before taking it out of service', requeueAfterMs: ADMISSION_RETRY_MS };
  const cluster = snapshot.cluster;
  if (!cluster) throw new Error('decide: a Pending node needs the cluster view');
  const gate = rolloutGate(cluster.rollout, config, now);
  if (!gate.open) return { kind: 'wait', reason: gate.message, requeueAfterMs: gate.retryAfterMs, gate: gate.reason };
  let notes: string[] = [];
  if (isControlPlane(node)) {
    if (!cluster.controlPlane) throw new Error('decide: a control-plane node needs the control-plane view');
    const verdict = controlPlaneVerdict(node.name, cluster.controlPlane, cluster.by);
    if (verdict.kind === 'refuse') return { kind: 'none', reason: verdict.reason, warning: true };
    if (verdict.kind === 'wait') return { kind: 'wait', reason: verdict.reason, requeueAfterMs: ADMISSION_RETRY_MS };
    notes = verdict.notes;
  }
  if (canaryRoom(cluster.rollout, cluster.inFlightOtherNodes.length, config) <= 0) {
    const { nodes } = config.rollout.canary;
    return {
      kind: 'wait',
      reason: `canary: ${cluster.rollout.migrated.length} of ${nodes} canary node(s) migrated, ${cluster.inFlightOtherNodes.length} in flight; the rest waits for them and their soak`,
      requeueAfterMs: ADMISSION_RETRY_MS,
      gate: 'canary',
    };
  }
  if (cluster.inFlightOtherNodes.length >= config.concurrency) {
    return {
      kind: 'wait',
      reason: `concurrency ${config.concurrency} reached (migrating: ${cluster.inFlightOtherNodes.join(', ')})`,
      requeueAfterMs: ADMISSION_RETRY_MS,
      slot: true,
    };
  }
  if (cluster.readyOtherNodes < config.minReadyNodes) {
    return {
      kind: 'wait',
      reason: `only ${cluster.readyOtherNodes} other nodes are Ready, minReadyNodes is ${config.minReadyNodes}`,
      requeueAfterMs: ADMISSION_RETRY_MS,
      slot: true,
    };
  }
  return { kind: 'act', action: 'preflight', target: 'Preflight', reason: 'Pending -> Preflight', ...(notes.length ? { notes } : {}) };
}

/** What a successful action changes in the state, besides phase and intent. */
export function completedState(state: MigrationState, target: Phase, now: Date): MigrationState {
  const next: MigrationState = { ...state, phase: target, attempt: 0 };
  delete next.intent;
  delete next.lastError;
  delete next.blockedBy;
  delete next.nextAttemptAt;
  delete next.unavailableAttempts;
  delete next.intentSince;
  if (TERMINAL_PHASES.includes(target)) next.finishedAt = now;
  return next;
}
