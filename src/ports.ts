// The narrow interfaces the engine and controller depend on. Adapters in kube/ and remote/
// implement them; tests implement them in a few lines.
import type { BudgetView, ExecResult, NodePatch, NodeView, PodView } from './domain/types.js';

export type { BudgetView, ExecResult, NodePatch, NodeView, PodView } from './domain/types.js';
export { ApiUnavailableError, HostUnreachableError, UnavailableError } from './domain/errors.js';

export interface PatchOptions {
  /**
   * Compare-and-swap: the patch is sent with the resourceVersion of a fresh read, and only if
   * guard(fresh) holds; a 409 conflict re-reads and re-checks. A failing guard throws
   * StaleStateError.
   */
  guard?: (fresh: NodeView) => boolean;
  /**
   * The node as the caller last saw it (a watch's cache): the guard is checked on it and the
   * patch sent with its resourceVersion, without a read first; a conflict reads afresh.
   */
  current?: NodeView;
}

export class StaleStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StaleStateError';
  }
}

/** The Node object is gone from the API (404): nothing is left to migrate or roll back. */
export class NodeGoneError extends Error {
  constructor(readonly node: string, options?: ErrorOptions) {
    super(`node ${node} no longer exists`, options);
    this.name = 'NodeGoneError';
  }
}

/** The Lease's namespace does not exist: leader election can never succeed until a human acts. */
export class LeaseNamespaceMissingError extends Error {
  constructor(namespace: string, options?: ErrorOptions) {
    super(
      `the namespace ${namespace} of the leader Lease does not exist: create it (kubectl create namespace ${namespace}) or set leaderElection.namespace`,
      options,
    );
    this.name = 'LeaseNamespaceMissingError';
  }
}

export interface NodeApi {
  /** Throws NodeGoneError when the node does not exist. */
  get(name: string): Promise<NodeView>;
  list(labelSelector?: string): Promise<NodeView[]>;
  patch(name: string, patch: NodePatch, options?: PatchOptions): Promise<NodeView>;
  /**
   * Resolve with the node once predicate holds (checked on the current object, then on each
   * change), or reject after timeoutMs naming what was last seen. `from`: a copy read after the
   * awaited change could first have happened; the wait starts from it (and its resourceVersion)
   * instead of reading the node again.
   */
  waitFor(name: string, predicate: (node: NodeView) => boolean, timeoutMs: number, description: string, from?: NodeView): Promise<NodeView>;
}

export type EvictionOutcome =
  | { kind: 'accepted' }
  /** HTTP 429: a PodDisruptionBudget does not allow it right now. */
  | { kind: 'blocked'; reason: string; budget?: string }
  /** 404: the pod is already gone. */
  | { kind: 'gone' };

export interface EvictOptions {
  gracePeriodSeconds: number | null;
  /** Server-side dry run (dryRun=All): PDBs are checked, nothing is evicted. */
  dryRun?: boolean;
}

export interface PodEvictor {
  listPodsOnNode(nodeName: string): Promise<PodView[]>;
  evict(pod: PodView, options: EvictOptions): Promise<EvictionOutcome>;
  /**
   * Watch until every listed pod (matched by uid) is deleted, or the signal aborts. Resolves with
   * the pods still present when it stopped.
   */
  waitForDeletion(nodeName: string, pods: readonly PodView[], signal: AbortSignal): Promise<PodView[]>;
  /** A PodDisruptionBudget named by a blocked eviction; undefined when it no longer exists. */
  readBudget(namespace: string, name: string): Promise<BudgetView | undefined>;
}

export interface ExecOptions {
  timeoutMs: number;
  /** Whether the command changes the host: a dry-run RemoteHost records it instead of running it. */
  mutates: boolean;
  stdin?: string;
}

export interface WriteFileOptions {
  /** Unix permission bits, e.g. 0o644. */
  mode: number;
}

export interface RemoteHost {
  /** For messages: user@host:port. */
  readonly target: string;
  /** Non-zero exit codes are returned, not thrown; connection loss and timeouts throw. */
  exec(command: string, options: ExecOptions): Promise<ExecResult>;
  /** The file's content, or null when it does not exist. */
  readFile(path: string): Promise<string | null>;
  /** Atomic: written to a temporary file in the same directory, then renamed over path. */
  writeFile(path: string, content: string, options: WriteFileOptions): Promise<void>;
  close(): Promise<void>;
}

/** Opens a RemoteHost for a node (address chosen from its status). */
export type RemoteConnector = (node: NodeView) => Promise<RemoteHost>;

export class RemoteCommandError extends Error {
  constructor(
    message: string,
    readonly result?: ExecResult,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RemoteCommandError';
  }
}

export interface Clock {
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Leader election: only the holder acts. */
export interface Lock {
  /** Acquire or renew; false while someone else holds it. */
  tryAcquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface EventRecorder {
  record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>;
}

/** Runs a short-lived pod on the node to prove the new runtime starts containers. */
export interface SmokeTester {
  /**
   * Creates the smoke pod on the node at once and waits for it to run, then deletes it. With
   * `after`, its time limit runs from when `after` resolves (the node Ready: the kubelet starts the
   * pod while the node reports Ready), and `after` rejecting gives the pod up (deleted).
   */
  run(nodeName: string, options: { image: string; namespace: string; timeoutMs: number; after?: Promise<unknown> }): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A stream of Node changes for the controller: list, watch, periodic resync. */
export interface NodeWatch {
  /** Calls onChange for every node seen: initially, on each change, and on every resync. */
  start(onChange: (node: NodeView) => void): Promise<void>;
  stop(): Promise<void>;
  /** Every node as the watch last saw it; undefined until its first list has arrived, and once stopped. */
  cached?(): NodeView[] | undefined;
  /** One node as the watch last saw it; undefined until the first list, once stopped, or for a node it has not seen. */
  cachedNode?(name: string): NodeView | undefined;
}

/** A control-plane static pod, as its mirror pod in kube-system shows it. */
export interface StaticPodView {
  node: string;
  /** etcd, kube-apiserver, kube-controller-manager, kube-scheduler (label component). */
  component: string;
  name: string;
  /** The Ready condition: its probes (etcd's health, the API server's /readyz) pass. */
  ready: boolean;
  /** The runtime its container runs on, from the container ID (docker, containerd), "" before it runs. */
  runtime: string;
}

/** The control plane as the API shows it. */
export interface ControlPlaneApi {
  /** The static pods of every control-plane node (kube-system, tier=control-plane). */
  staticPods(): Promise<StaticPodView[]>;
  /**
   * Resolve once every one of `components` on `node` is Ready on `runtime`, rechecking while the
   * API server restarts; reject after timeoutMs saying what was last seen.
   */
  waitForStaticPods(node: string, runtime: 'docker' | 'containerd', components: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** `cri-migrator pause`: who paused the rollout, when, why. */
export interface PauseState {
  by: string;
  at: Date;
  reason: string;
}

/** Rollout-wide facts that do not live on a Node: the pause, and pods that hold the rollout back. */
export interface RolloutStore {
  readPause(): Promise<PauseState | undefined>;
  /** undefined resumes. */
  writePause(pause: PauseState | undefined): Promise<void>;
  /** namespace/name of up to `limit` pods matching the label selector, in every namespace. */
  podsMatching(selector: string, limit: number): Promise<string[]>;
}

/** A pod's host-path volumes, for `check` (workloads that mount the Docker socket). */
export interface PodHostPaths {
  namespace: string;
  name: string;
  nodeName: string;
  labels: Readonly<Record<string, string>>;
  /** The owner reference with controller=true, if any. */
  owner?: { kind: string; name: string };
  hostPaths: readonly { volume: string; path: string }[];
}

/** A workload's pod template hostPath volumes: what its pods will mount, running or not (a CronJob between runs, a Deployment at 0). */
export interface WorkloadHostPaths {
  /** Deployment, StatefulSet, DaemonSet, ReplicaSet (not a Deployment's), Job (not a CronJob's), CronJob. */
  kind: string;
  namespace: string;
  name: string;
  hostPaths: readonly { volume: string; path: string }[];
}

/** Read-only inventory of the workloads in the cluster. */
export interface WorkloadLister {
  listPodHostPaths(): Promise<PodHostPaths[]>;
  listWorkloadHostPaths(): Promise<WorkloadHostPaths[]>;
}
