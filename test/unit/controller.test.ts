import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Controller } from '../../src/controller/run.js';
import { isRelevant, reconcileKey } from '../../src/controller/reconciler.js';
import { WorkQueue } from '../../src/controller/queue.js';
import { ANNOTATIONS, parseState } from '../../src/domain/annotations.js';
import type { NodeView } from '../../src/domain/types.js';
import { isMigrating } from '../../src/engine/decide.js';
import type { EngineDeps } from '../../src/engine/executor.js';
import { controllerActor } from '../../src/domain/claim.js';
import type { Lock, NodeWatch } from '../../src/ports.js';
import { factsOutput } from './facts-fixture.js';
import { fakeEngine, FakeClock, FakeEvictor, FakeNodeApi, FakeRemote, makeNode, makePod, silentLog } from './fakes.js';

class FakeWatch implements NodeWatch {
  onChange?: (node: NodeView) => void;
  async start(onChange: (node: NodeView) => void) {
    this.onChange = onChange;
  }
  async stop() {
    this.onChange = undefined;
  }
}

class FakeLock implements Lock {
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

function cluster(config = loadConfig({ sets: ['minReadyNodes=1'] })) {
  const clock = new FakeClock();
  const nodes = new FakeNodeApi(clock, makeNode({ name: 'w1' }), makeNode({ name: 'w2' }), makeNode({ name: 'w3', labels: {} }));
  let maxMigrating = 0;
  const patch = nodes.patch.bind(nodes);
  nodes.patch = async (...args) => {
    const out = await patch(...args);
    const migrating = [...nodes.nodes.values()].filter((n) => {
      const s = parseState(n.annotations);
      return s.ok && isMigrating(s.state);
    }).length;
    maxMigrating = Math.max(maxMigrating, migrating);
    return out;
  };
  const remotes = new Map<string, FakeRemote>();
  const deps: EngineDeps = fakeEngine({
    config,
    nodes,
    evictor: new FakeEvictor([makePod('web-1')]),
    clock,
    actor: controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 60 }),
    connect: async (node) => {
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
  return { deps, nodes, clock, remotes, maxMigrating: () => maxMigrating };
}

async function until(predicate: () => boolean, clock: FakeClock, limit = 2_000) {
  for (let i = 0; i < limit && !predicate(); i++) await clock.sleep(1_000);
  if (!predicate()) throw new Error('condition not reached');
}

describe('controller', () => {
  it('migrates every labelled node, one at a time with concurrency 1, as the leader', async () => {
    const c = cluster();
    const watch = new FakeWatch();
    const lock = new FakeLock();
    const controller = new Controller({ engine: c.deps, watch, lock, log: silentLog, renewIntervalMs: 2_000, leaseDurationMs: 15_000 });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => watch.onChange !== undefined, c.clock);
    for (const node of c.nodes.nodes.values()) watch.onChange!(node);
    const phase = (name: string) => c.nodes.nodes.get(name)!.annotations[ANNOTATIONS.phase];
    await until(() => phase('w1') === 'Succeeded' && phase('w2') === 'Succeeded', c.clock);
    expect(c.maxMigrating()).toBe(1);
    expect(phase('w3')).toBeUndefined(); // not labelled
    expect(c.remotes.has('w3')).toBe(false);
    stop.abort();
    await running;
    expect(lock.held).toBe(false); // released on a clean stop
  });

  it('does nothing until it holds the Lease; after losing it, stands by and leads again when it can', async () => {
    const c = cluster();
    const watch = new FakeWatch();
    const lock = new FakeLock();
    lock.grants = [false, false, true, false, false, true];
    const terms: boolean[] = [];
    const controller = new Controller({ engine: c.deps, watch, lock, log: silentLog, renewIntervalMs: 2_000, leaseDurationMs: 15_000, onLeadership: (l) => terms.push(l) });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => terms.length === 3, c.clock);
    expect(terms).toEqual([true, false, true]);
    expect(watch.onChange).toBeDefined(); // watching again in the second term
    stop.abort();
    await running;
    expect(lock.held).toBe(false);
  });

  it('keeps leading while the API server does not answer for less than the lease, not longer', async () => {
    const c = cluster();
    const watch = new FakeWatch();
    let failing = false;
    let acquired = 0;
    const lock: Lock = {
      tryAcquire: async () => {
        if (failing) throw new Error('connect ECONNREFUSED');
        acquired++;
        return true;
      },
      release: async () => undefined,
    };
    const terms: { leading: boolean; at: number }[] = [];
    const t0 = c.clock.now().getTime();
    const controller = new Controller({
      engine: c.deps, watch, lock, log: silentLog, renewIntervalMs: 5_000, leaseDurationMs: 15_000,
      onLeadership: (leading) => terms.push({ leading, at: (c.clock.now().getTime() - t0) / 1000 }),
    });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => acquired >= 2, c.clock);
    failing = true; // an API server paused for 10 s: within the lease
    await c.clock.sleep(10_000);
    failing = false;
    await c.clock.sleep(10_000);
    expect(terms).toEqual([{ leading: true, at: 0 }]);
    failing = true; // now for good: the lease runs out
    await until(() => terms.length === 2, c.clock);
    expect(terms[1]!.leading).toBe(false);
    stop.abort();
    await running;
  });

  it('on stop starts nothing new, gives the step in flight its grace, then cancels it without counting it as a failure', async () => {
    const c = cluster(loadConfig({ sets: ['minReadyNodes=1', 'drain.timeoutSeconds=3600'] }));
    (c.deps.evictor as FakeEvictor).blockedFor.set('web-1', Infinity);
    const watch = new FakeWatch();
    const lock = new FakeLock();
    const controller = new Controller({ engine: c.deps, watch, lock, log: silentLog, renewIntervalMs: 2_000, leaseDurationMs: 15_000, stopGraceMs: 20_000 });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => watch.onChange !== undefined, c.clock);
    watch.onChange!(c.nodes.nodes.get('w1')!);
    const annotations = (name: string) => c.nodes.nodes.get(name)!.annotations;
    await until(() => annotations('w1')[ANNOTATIONS.intent] === 'Drained', c.clock);
    watch.onChange!(c.nodes.nodes.get('w2')!); // queued behind the drain
    const stoppedAt = c.clock.now().getTime();
    stop.abort();
    await running;
    const took = c.clock.now().getTime() - stoppedAt;
    expect(took).toBeGreaterThanOrEqual(20_000);
    expect(took).toBeLessThan(25_000);
    expect(annotations('w1')[ANNOTATIONS.intent]).toBe('Drained'); // resumed by the next leader
    expect(annotations('w1')[ANNOTATIONS.attempt]).toBe('0');
    expect(annotations('w2')[ANNOTATIONS.phase]).toBeUndefined(); // never started
    expect(lock.held).toBe(false);
  });

  it('drops a node deleted midway from the queue instead of retrying it forever', async () => {
    const c = cluster();
    const queue = new WorkQueue<string>(c.clock);
    // Take w1 through a few phases, then delete it as a cluster autoscaler would.
    for (let i = 0; i < 3; i++) await reconcileKey('w1', c.deps, queue);
    const state = parseState(c.nodes.nodes.get('w1')!.annotations);
    expect(state.ok && isMigrating(state.state)).toBe(true);
    c.nodes.nodes.delete('w1');
    const outcome = await reconcileKey('w1', c.deps, queue);
    expect(outcome).toEqual({ kind: 'forget', reason: 'node w1 no longer exists' });
    expect(queue.failuresOf('w1')).toBe(0);
    // Nothing re-adds it: after the longest backoff the queue is still empty.
    while (queue.length) {
      const key = (await queue.get())!;
      queue.done(key);
    }
    await c.clock.sleep(120_000);
    expect(queue.length).toBe(0);
  });

  it('watches labelled nodes and nodes it is midway through', () => {
    const selector = 'cri-migrator.dev/migrate=containerd';
    expect(isRelevant(makeNode(), selector)).toBe(true);
    expect(isRelevant(makeNode({ labels: {} }), selector)).toBe(false);
    expect(isRelevant(makeNode({ labels: {}, annotations: { [ANNOTATIONS.phase]: 'Drained' } }), selector)).toBe(true);
    expect(isRelevant(makeNode({ labels: {}, annotations: { [ANNOTATIONS.phase]: 'Succeeded' } }), selector)).toBe(false);
    expect(isRelevant(makeNode({ labels: {}, annotations: { [ANNOTATIONS.phase]: 'garbage' } }), selector)).toBe(true);
  });
});
