// Plain data the engine reasons about. Adapters translate Kubernetes objects into these, so the
// engine never sees @kubernetes/client-node types.

/** The forward path, in order. */
export const FORWARD_PHASES = [
  'Pending',
  'Preflight',
  'Cordoned',
  'Drained',
  'RuntimeConfigured',
  'KubeletSwitched',
  'Verified',
  'Uncordoned',
  'Succeeded',
] as const;
export type ForwardPhase = (typeof FORWARD_PHASES)[number];

export const PHASES = [...FORWARD_PHASES, 'RollingBack', 'RolledBack', 'Failed'] as const;
export type Phase = (typeof PHASES)[number];


export const TERMINAL_PHASES: readonly Phase[] = ['Succeeded', 'RolledBack', 'Failed'];

/** Phases in which the node is out of service because of us (counted against concurrency). */
export function isInFlight(phase: Phase): boolean {
  return !TERMINAL_PHASES.includes(phase) && phase !== 'Pending';
}

export function forwardIndex(phase: Phase): number {
  return (FORWARD_PHASES as readonly Phase[]).indexOf(phase);
}

export type SourceRuntime = 'dockershim' | 'cri-dockerd';

/** The migration state kept in the Node's annotations. */
export interface MigrationState {
  phase: Phase;
  /** Phase whose action is in flight: written before the action, cleared when it completes. */
  intent?: Phase;
  /** Failed attempts of the current intent. */
  attempt: number;
  lastError?: string;
  startedAt?: Date;
  finishedAt?: Date;
  /** The node's own spec.unschedulable before we touched it: we only undo what we did. */
  wasUnschedulable?: boolean;
  /** Hash of the playbook and config the migration started with. */
  configHash?: string;
  sourceRuntime?: SourceRuntime;
  /** kubeadm.alpha.kubernetes.io/cri-socket before we changed it; "" when it was absent. */
  previousCriSocket?: string;
  /** The intent that failed and caused the rollback, so rollback knows what to undo. */
  failedPhase?: Phase;
  /** Why we rolled back (or stopped in Failed). */
  rollbackReason?: string;
  /** Pods and PDBs blocking the drain, or what keeps the node from starting, while they do. */
  blockedBy?: string;
  /**
   * Backoff as state: after a failed attempt, nobody (controller, restarted controller, CLI) tries
   * the intent again before this time.
   */
  nextAttemptAt?: Date;
  /** Attempts that failed because the API server or the node's sshd did not answer (not counted in attempt). */
  unavailableAttempts?: number;
  /** When the current intent was first written: bounds the overall time of a step (the drain's timeout). */
  intentSince?: Date;
  /** The backup directory on the node, once the backup step has run there. */
  backupDir?: string;
  /** When the engine noticed that the node no longer matches the selector mid-migration. */
  unselectedAt?: Date;
  /** Preflight warnings: what of the node's Docker settings could not be carried over. */
  warnings?: string;
}

export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  unschedulable: boolean;
  /**
   * The node carries the taint node.kubernetes.io/unschedulable, which the node lifecycle
   * controller keeps in line with spec.unschedulable (it writes the node moments after a cordon
   * or an uncordon). Undefined where the view did not come from a Node object.
   */
  unschedulableTaint?: boolean;
  ready: boolean;
  /** status.nodeInfo.containerRuntimeVersion, e.g. docker://20.10.24 or containerd://1.6.20 */
  containerRuntimeVersion: string;
  /** status.nodeInfo.kubeletVersion, e.g. v1.23.17 */
  kubeletVersion: string;
  addresses: readonly { type: string; address: string }[];
  resourceVersion: string;
}

/** A change to a Node: null removes a label or annotation. */
export interface NodePatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
  unschedulable?: boolean;
}

export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
  /** status.phase */
  phase: string;
  /** Owner references with controller=true, e.g. [{kind: "ReplicaSet", name: "web-6d4f"}]. */
  controllers: readonly { kind: string; name: string }[];
  /** Has the kubernetes.io/config.mirror annotation: a static pod's API mirror. */
  mirror: boolean;
  usesEmptyDir: boolean;
  /**
   * Annotated cluster-autoscaler.kubernetes.io/safe-to-evict: "true": its owner declares its
   * local data disposable (the autoscaler's convention), so emptyDir does not refuse it.
   */
  safeToEvict?: boolean;
  deletionTimestamp?: Date;
}

/** A PodDisruptionBudget's spec and status, as far as the drain needs it. */
export interface BudgetView {
  namespace: string;
  name: string;
  minAvailable?: string;
  maxUnavailable?: string;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
}

/**
 * The budget allows no eviction even with every pod it counts healthy (maxUnavailable 0, or
 * minAvailable equal to the pod count): a drain can only wait for its timeout.
 */
export function neverAllowsDisruption(budget: BudgetView): boolean {
  return budget.disruptionsAllowed === 0 && budget.expectedPods > 0 && budget.currentHealthy >= budget.expectedPods;
}

export function describeBudget(budget: BudgetView): string {
  const spec = budget.maxUnavailable !== undefined ? `maxUnavailable: ${budget.maxUnavailable}` : budget.minAvailable !== undefined ? `minAvailable: ${budget.minAvailable}` : 'no limit set';
  return `PodDisruptionBudget ${budget.namespace}/${budget.name} (${spec}; ${budget.currentHealthy}/${budget.expectedPods} healthy, ${budget.disruptionsAllowed} disruption(s) allowed)`;
}

export function podKey(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}
