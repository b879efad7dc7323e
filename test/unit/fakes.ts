// In-memory implementations of the ports, small enough to read at a glance.
import { pino } from 'pino';
import type { BudgetView, NodePatch, NodeView, PodView } from '../../src/domain/types.js';
import { cliActor, type Actor } from '../../src/domain/claim.js';
import { applyPatch } from '../../src/domain/node-patch.js';
import type {
  Clock,
  EventRecorder,
  EvictionOutcome,
  EvictOptions,
  ExecOptions,
  ExecResult,
  NodeApi,
  PatchOptions,
  ControlPlaneApi,
  PauseState,
  RolloutStore,
  StaticPodView,
  PodEvictor,
  RemoteHost,
  SmokeTester,
} from '../../src/ports.js';
import { NodeGoneError, StaleStateError } from '../../src/ports.js';
import { matchesSelector } from '../../src/domain/selector.js';
import { staticPodsUnsettled } from '../../src/domain/static-pods.js';
import type { Config } from '../../src/config.js';
import type { EngineDeps } from '../../src/engine/executor.js';
import { Mutex } from '../../src/engine/mutex.js';
import { loadPlaybooks } from '../../src/playbooks/loader.js';

export const silentLog = pino({ level: 'silent' });

/** Virtual time: a sleep resolves when nothing else is runnable, earliest deadline first. */
export class FakeClock implements Clock {
  private timers: { due: number; fire: () => void }[] = [];
  private pumping = false;
  constructor(private t = Date.parse('2024-05-01T12:00:00Z')) {}
  now = () => new Date(this.t);
  sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal!.reason);
      };
      const timer = {
        due: this.t + Math.max(0, ms),
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  private pump() {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.timers.sort((a, b) => a.due - b.due);
      const next = this.timers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.due);
      next.fire();
      if (this.timers.length) this.pump();
    });
  }
}

export function makeNode(overrides: Partial<NodeView> = {}): NodeView {
  return {
    name: 'w1',
    labels: { 'cri-migrator.dev/migrate': 'containerd' },
    annotations: {},
    unschedulable: false,
    ready: true,
    containerRuntimeVersion: 'docker://20.10.24',
    kubeletVersion: 'v1.23.17',
    addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
    resourceVersion: '1',
    ...overrides,
  };
}

export class FakeNodeApi implements NodeApi {
  nodes = new Map<string, NodeView>();
  patches: { name: string; patch: NodePatch }[] = [];
  private waiters: (() => void)[] = [];
  constructor(private clock: Clock, ...nodes: NodeView[]) {
    for (const n of nodes) this.nodes.set(n.name, n);
  }
  async get(name: string) {
    const n = this.nodes.get(name);
    if (!n) throw new NodeGoneError(name);
    return structuredClone(n);
  }
  async list() {
    return [...this.nodes.values()].map((n) => structuredClone(n));
  }
  async patch(name: string, patch: NodePatch, options?: PatchOptions) {
    // Checked and applied with no await between, as the API server's compare-and-swap is atomic.
    const stored = this.nodes.get(name);
    if (!stored) throw new NodeGoneError(name);
    if (options?.guard && !options.guard(structuredClone(stored))) throw new StaleStateError(`${name} changed`);
    this.patches.push({ name, patch: structuredClone(patch) });
    this.update(name, (node) => applyPatch(node, patch));
    return this.get(name);
  }
  /** Change a node as the kubelet or an admin would, waking waiters. */
  update(name: string, change: (n: NodeView) => NodeView) {
    const n = this.nodes.get(name)!;
    this.nodes.set(name, { ...change(structuredClone(n)), resourceVersion: String(Number(n.resourceVersion) + 1) });
    for (const wake of this.waiters.splice(0)) wake();
  }
  async waitFor(name: string, predicate: (n: NodeView) => boolean, timeoutMs: number, description: string) {
    const deadline = this.clock.now().getTime() + timeoutMs;
    for (;;) {
      const n = await this.get(name);
      if (predicate(n)) return n;
      if (this.clock.now().getTime() >= deadline) throw new Error(`${name} not ${description} after ${timeoutMs}ms`);
      const changed = new Promise<void>((resolve) => this.waiters.push(resolve));
      await Promise.race([changed, this.clock.sleep(Math.min(1000, deadline - this.clock.now().getTime()))]);
    }
  }
}

/** Pods on nodes; evict() answers from `blockedFor` (PDB) or deletes the pod. */
export class FakeEvictor implements PodEvictor {
  evictions: { pod: string; dryRun: boolean }[] = [];
  /** pod name -> how many more eviction attempts a PDB rejects (Infinity: always). */
  blockedFor = new Map<string, number>();
  /** "namespace/name" -> the budget readBudget answers with. */
  budgets = new Map<string, BudgetView>();
  private listeners: (() => void)[] = [];
  constructor(public pods: PodView[]) {}
  async listPodsOnNode() {
    return [...this.pods];
  }
  async evict(pod: PodView, options: EvictOptions): Promise<EvictionOutcome> {
    this.evictions.push({ pod: pod.name, dryRun: options.dryRun === true });
    const left = this.blockedFor.get(pod.name) ?? 0;
    if (left > 0) {
      this.blockedFor.set(pod.name, left - 1);
      return { kind: 'blocked', reason: 'Cannot evict pod as it would violate the pod\'s disruption budget.', budget: `${pod.name}-pdb` };
    }
    if (!options.dryRun) {
      this.pods = this.pods.filter((p) => p.uid !== pod.uid);
      for (const wake of this.listeners.splice(0)) wake();
    }
    return { kind: 'accepted' };
  }
  async readBudget(namespace: string, name: string) {
    return this.budgets.get(`${namespace}/${name}`);
  }
  async waitForDeletion(_node: string, pods: readonly PodView[], signal: AbortSignal) {
    const remaining = () => pods.filter((p) => this.pods.some((q) => q.uid === p.uid));
    while (remaining().length > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.listeners.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return remaining();
  }
}

export function makePod(name: string, overrides: Partial<PodView> = {}): PodView {
  return { namespace: 'default', name, uid: `uid-${name}`, labels: {}, phase: 'Running', controllers: [{ kind: 'ReplicaSet', name: 'rs' }], mirror: false, usesEmptyDir: false, ...overrides };
}

export type Responder = (command: string, options: ExecOptions) => ExecResult | undefined;

/** A host with an in-memory filesystem; commands are answered by responders (first answer wins). */
export class FakeRemote implements RemoteHost {
  readonly target = 'root@10.0.0.2:22';
  commands: { command: string; mutates: boolean }[] = [];
  files = new Map<string, { content: string; mode: number }>();
  closed = 0;
  constructor(public responders: Responder[] = []) {}
  async exec(command: string, options: ExecOptions) {
    this.commands.push({ command, mutates: options.mutates });
    for (const respond of this.responders) {
      const result = respond(command, options);
      if (result) return result;
    }
    // Unknown checks report "not done yet"; unknown actions succeed.
    return { code: options.mutates ? 0 : 1, stdout: '', stderr: '' };
  }
  async readFile(path: string) {
    return this.files.get(path)?.content ?? null;
  }
  async writeFile(path: string, content: string, options: { mode: number }) {
    this.files.set(path, { content, mode: options.mode });
  }
  async close() {
    this.closed++;
  }
}

export class FakeEvents implements EventRecorder {
  events: { node: string; type: string; reason: string; message: string }[] = [];
  async record(node: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }) {
    this.events.push({ node, ...event });
  }
}

export class FakeSmoke implements SmokeTester {
  runs: { node: string; image: string }[] = [];
  failWith?: Error;
  /** Created before the node was found Ready (the run's `after` still pending). */
  createdEarly: string[] = [];
  /** Called as the pod is created. */
  onCreate?: () => void;
  async run(node: string, options: { image: string; after?: Promise<unknown> }) {
    let pending = options.after !== undefined;
    void options.after?.then(
      () => (pending = false),
      () => (pending = false),
    );
    this.onCreate?.();
    await Promise.resolve();
    if (pending) this.createdEarly.push(node);
    await options.after;
    this.runs.push({ node, image: options.image });
    if (this.failWith) throw this.failWith;
  }
}

/** Pause state and blocking pods in memory. */
export class FakeRollout implements RolloutStore {
  pause: PauseState | undefined;
  pods: { name: string; labels: Record<string, string> }[] = [];
  async readPause() {
    return this.pause;
  }
  async writePause(pause: PauseState | undefined) {
    this.pause = pause;
  }
  async podsMatching(selector: string, limit: number) {
    return this.pods.filter((p) => matchesSelector(p.labels, selector)).slice(0, limit).map((p) => p.name);
  }
}

/** The control plane's static pods, in memory. */
export class FakeControlPlane implements ControlPlaneApi {
  pods: StaticPodView[] = [];
  constructor(private readonly clock: Clock) {}
  async staticPods() {
    return this.pods.map((p) => ({ ...p }));
  }
  async waitForStaticPods(node: string, runtime: 'docker' | 'containerd', components: readonly string[], timeoutMs: number) {
    const deadline = this.clock.now().getTime() + timeoutMs;
    for (;;) {
      const why = staticPodsUnsettled(this.pods, node, runtime, components);
      if (why === undefined) return;
      if (this.clock.now().getTime() >= deadline) throw new Error(`the static pods of ${node} were not Ready on ${runtime} within ${timeoutMs / 1000}s: ${why}`);
      await this.clock.sleep(2_000);
    }
  }
}

/** An actor for tests: a CLI on host "test" with the given pid (every pid counts as alive). */
export function testActor(pid = 1, options: { force?: boolean; leaseSeconds?: number } = {}): Actor {
  return cliActor({ host: 'test', pid, force: options.force ?? false, leaseSeconds: options.leaseSeconds ?? 60, isAlive: () => true });
}

/** The engine's dependencies over these fakes: fresh events, smoke tester, playbooks and lock. */
export function fakeEngine(parts: {
  config: Config;
  nodes: FakeNodeApi;
  evictor: FakeEvictor;
  clock: FakeClock;
  connect: EngineDeps['connect'];
  actor?: Actor;
}): EngineDeps & { events: FakeEvents; smoke: FakeSmoke; rollout: FakeRollout; controlPlane: FakeControlPlane } {
  return {
    actor: testActor(),
    rollout: new FakeRollout(),
    controlPlane: new FakeControlPlane(parts.clock),
    ...parts,
    events: new FakeEvents(),
    smoke: new FakeSmoke(),
    playbooks: loadPlaybooks(parts.config.playbooksDir),
    log: silentLog,
    admission: new Mutex(),
  };
}
