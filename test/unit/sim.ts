// A simulated cluster for the controller's tests and the fleet benchmark: the fake ports, a watch
// that sends every change as the informer would, the watch's cache under the controller's
// CachedNodeApi, and optional step times (virtual, on the fake clock) for each remote step, the
// drain and the verification.
import type { Config } from '../../src/config.js';
import { CachedNodeApi } from '../../src/controller/cached-nodes.js';
import { ANNOTATIONS, parseState } from '../../src/domain/annotations.js';
import { controllerActor } from '../../src/domain/claim.js';
import type { NodeView } from '../../src/domain/types.js';
import { isMigrating } from '../../src/engine/decide.js';
import type { EngineDeps } from '../../src/engine/executor.js';
import type { Lock, NodeWatch } from '../../src/ports.js';
import { factsOutput } from './facts-fixture.js';
import { fakeEngine, FakeClock, FakeEvictor, FakeNodeApi, FakeRemote, makeNode, makePod } from './fakes.js';

export class FakeWatch implements NodeWatch {
  onChange?: (node: NodeView) => void;
  async start(onChange: (node: NodeView) => void) {
    this.onChange = onChange;
  }
  async stop() {
    this.onChange = undefined;
  }
}

export class FakeLock implements Lock {
  held = false;
  grants: boolean[] = [];
  async tryAcquire() {
    this.held = this.grants.length ? this.grants.shift()! : true;
    return this.held;
  }
  async release() {
    this.held = false;
  }
}

/** Virtual milliseconds each part of a migration takes. */
export interface StepTimes {
  /** By the intent the node carries when the step connects: Preflight, RuntimeConfigured, KubeletSwitched, RolledBack. */
  remote: Partial<Record<string, number>>;
  drain: number;
  verify: number;
}

export interface SimOptions {
  config: Config;
  nodes?: NodeView[];
  steps?: StepTimes;
  /** Reads through the controller's CachedNodeApi over the watch's cache (reads counted in `api`). */
  cached?: boolean;
}

export function simulatedCluster(options: SimOptions) {
  const { config, steps } = options;
  const clock = new FakeClock();
  const nodes = new FakeNodeApi(clock, ...(options.nodes ?? [makeNode({ name: 'w1' }), makeNode({ name: 'w2' }), makeNode({ name: 'w3', labels: {} })]));
  const watch = new FakeWatch();
  // How many nodes are mid-migration at once, kept as the store changes.
  const migrating = new Set<string>();
  let maxMigrating = 0;
  const update = nodes.update.bind(nodes);
  nodes.update = (name, change) => {
    update(name, change);
    const n = nodes.nodes.get(name)!;
    const s = parseState(n.annotations);
    if (s.ok && isMigrating(s.state)) migrating.add(name);
    else migrating.delete(name);
    maxMigrating = Math.max(maxMigrating, migrating.size);
    watch.onChange?.(structuredClone(n));
  };
  const wait = (ms: number | undefined) => (ms ? clock.sleep(ms) : Promise.resolve());
  const evictor = new FakeEvictor([makePod('web-1')]);
  if (steps) {
    const list = evictor.listPodsOnNode.bind(evictor);
    evictor.listPodsOnNode = async () => (await wait(steps.drain), list());
    const waitFor = nodes.waitFor.bind(nodes);
    nodes.waitFor = async (...args) => (await wait(steps.verify), waitFor(...args));
  }
  const remotes = new Map<string, FakeRemote>();
  const base = fakeEngine({
    config,
    nodes,
    evictor,
    clock,
    actor: controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 60 }),
    connect: async (node) => {
      await wait(steps?.remote[nodes.nodes.get(node.name)?.annotations[ANNOTATIONS.intent] ?? '']);
      const remote = new FakeRemote([
        (cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: factsOutput(), stderr: '' } : undefined),
        (cmd, o) => (!o.mutates && /^(test -[df] |systemctl cat )/.test(cmd) ? { code: 0, stdout: '', stderr: '' } : undefined),
        (cmd, o) => {
          if (o.mutates && cmd.includes('systemctl restart kubelet.service')) {
            nodes.update(node.name, (n) => ({ ...n, containerRuntimeVersion: 'containerd://1.6.20', ready: true }));
          }
          return undefined;
        },
      ]);
      remotes.set(node.name, remote);
      return remote;
    },
  });
  // What reaches the API server through the cache: reads counted, writes passed on.
  const api = { gets: 0, lists: 0 };
  let deps: EngineDeps = base;
  if (options.cached) {
    const counted = {
      get: (name: string) => (api.gets++, nodes.get(name)),
      list: () => (api.lists++, nodes.list()),
      patch: nodes.patch.bind(nodes),
      waitFor: nodes.waitFor.bind(nodes),
    };
    // The store's objects are replaced on each change, never changed in place: the cache can hand them out.
    const cache = { cached: () => [...nodes.nodes.values()], cachedNode: (name: string) => nodes.nodes.get(name) };
    deps = { ...base, nodes: new CachedNodeApi(counted, cache) };
  }
  return { deps, nodes, clock, watch, remotes, api, maxMigrating: () => maxMigrating };
}

/** Advance virtual time a second at a time until predicate holds. */
export async function until(predicate: () => boolean, clock: FakeClock, limit = 2_000) {
  for (let i = 0; i < limit && !predicate(); i++) await clock.sleep(1_000);
  if (!predicate()) throw new Error('condition not reached');
}
