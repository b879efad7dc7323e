// Plain data the engine reasons about. Adapters translate Kubernetes objects into these, so the
// engine never sees @kubernetes/client-node types.

export const PHASES = [
  'Pending',
  'Preflight',
  'Cordoned',
  'Drained',
  'RuntimeConfigured',
  'KubeletSwitched',
  'Verified',
  'Uncordoned',
  'Succeeded',
  'RollingBack',
  'RolledBack',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

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
] as const satisfies readonly Phase[];
export type ForwardPhase = (typeof FORWARD_PHASES)[number];

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
  /** Pods and PDBs blocking the drain, while they do. */
  blockedBy?: string;
}

export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  unschedulable: boolean;
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
  deletionTimestamp?: Date;
}

export function podKey(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}
