// The per-node state machine: from what is observed now, the one next thing to do. Pure.
//
//   Pending -> Preflight -> Cordoned -> Drained -> RuntimeConfigured -> KubeletSwitched
//           -> Verified -> Uncordoned -> Succeeded
//   any phase --(error, retries exhausted)--> RollingBack -> RolledBack | Failed
//
// The executor writes `intent` (the phase being entered) before an action and the new `phase`
// after it; an intent still present means the action may have run partly, so it is run again:
// every action first checks whether its effect is already there.
import type { Config } from '../config.js';
import type { ParseResult } from '../domain/annotations.js';
import { CONTROL_PLANE_LABELS } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import { forwardIndex, TERMINAL_PHASES, type MigrationState, type NodeView, type Phase } from '../domain/types.js';

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
  /** Other nodes mid-migration (phase or intent past Pending, not terminal). */
  inFlightOtherNodes: readonly string[];
}

export interface Snapshot {
  node: NodeView;
  state: ParseResult;
  /** Only needed to admit a Pending node. */
  cluster?: ClusterView;
}

export type Decision =
  | { kind: 'none'; reason: string; /** Needs a human: worth a Warning event. */ warning?: boolean }
  | { kind: 'wait'; reason: string; requeueAfterMs: number }
  | { kind: 'act'; action: ActionName; target: Phase; reason: string };

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

export function decide(snapshot: Snapshot, config: Config, _now: Date): Decision {
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
      return { kind: 'act', action: 'rollback', target: 'RolledBack', reason: state.rollbackReason ?? 'rolling back' };
    case 'Pending':
      if (state.intent === undefined) return admit(snapshot, config);
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

  const action = ENTER_ACTION[next]!;
  const resumed = state.intent !== undefined ? ` (resuming: attempt ${state.attempt + 1})` : '';
  return { kind: 'act', action, target: next, reason: `${state.phase} -> ${next}${resumed}` };
}

function admit(snapshot: Snapshot, config: Config): Decision {
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
  if (cluster.inFlightOtherNodes.length >= config.concurrency) {
    return {
      kind: 'wait',
      reason: `concurrency ${config.concurrency} reached (migrating: ${cluster.inFlightOtherNodes.join(', ')})`,
      requeueAfterMs: ADMISSION_RETRY_MS,
    };
  }
  if (cluster.readyOtherNodes < config.minReadyNodes) {
    return {
      kind: 'wait',
      reason: `only ${cluster.readyOtherNodes} other nodes are Ready, minReadyNodes is ${config.minReadyNodes}`,
      requeueAfterMs: ADMISSION_RETRY_MS,
    };
  }
  return { kind: 'act', action: 'preflight', target: 'Preflight', reason: 'Pending -> Preflight' };
}

/** What a successful action changes in the state, besides phase and intent. */
export function completedState(state: MigrationState, target: Phase, now: Date): MigrationState {
  const next: MigrationState = { ...state, phase: target, attempt: 0 };
  delete next.intent;
  delete next.lastError;
  delete next.blockedBy;
  if (TERMINAL_PHASES.includes(target)) next.finishedAt = now;
  return next;
}
