import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Controller } from '../../src/controller/run.js';
import { SlotWaiters } from '../../src/controller/slots.js';
import { isRelevant, reconcileKey, type Outcome } from '../../src/controller/reconciler.js';
import { WorkQueue } from '../../src/controller/queue.js';
import { ANNOTATIONS, parseState } from '../../src/domain/annotations.js';
import { isMigrating } from '../../src/engine/decide.js';
import { reconcileNode } from '../../src/engine/executor.js';
import type { Lock } from '../../src/ports.js';
import { claimAnnotations, cliActor } from '../../src/domain/claim.js';
import { FakeEvictor, FakeRollout, makeNode, silentLog } from './fakes.js';
import { FakeLock, FakeWatch, simulatedCluster, until } from './sim.js';

function cluster(config = loadConfig({ sets: ['minReadyNodes=1'] })) {
  return simulatedCluster({ config });
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

function watchedCluster(config = loadConfig({ sets: ['minReadyNodes=1'] })) {
  return simulatedCluster({ config, cached: true });
}

describe('controller at fleet scale: reads from the cache, waiting nodes not polled', () => {
  it('admits a node with no read and no list sent to the API server', async () => {
    const c = watchedCluster();
    const result = await reconcileNode('w1', c.deps);
    expect(result).toMatchObject({ kind: 'progressed', phase: 'Preflight' });
    expect(c.api).toEqual({ gets: 0, lists: 0 });
  });

  it('a node waiting for a slot is woken when one frees, not polled; only the first in line looks again every 30 s', async () => {
    const c = watchedCluster();
    for (const name of ['w4', 'w5', 'w6']) c.nodes.nodes.set(name, makeNode({ name }));
    // Another actor (a CLI) holds a node for 10 minutes and then vanishes without a word: its claim
    // expires, and no watch event says so.
    const cli = cliActor({ host: 'laptop', pid: 7, force: false, leaseSeconds: 600, isAlive: () => true });
    c.nodes.nodes.set('held', makeNode({ name: 'held', labels: {}, annotations: claimAnnotations(cli, c.clock.now()) }));
    const passes = new Map<string, Outcome['kind'][]>();
    const lock = new FakeLock();
    const controller = new Controller({
      engine: c.deps,
      watch: c.watch,
      lock,
      log: silentLog,
      renewIntervalMs: 2_000,
      leaseDurationMs: 15_000,
      onOutcome: (node, outcome) => passes.set(node, [...(passes.get(node) ?? []), outcome.kind]),
    });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => c.watch.onChange !== undefined, c.clock);
    const started = c.clock.now().getTime();
    for (const node of c.nodes.nodes.values()) c.watch.onChange!(structuredClone(node));
    const phase = (name: string) => c.nodes.nodes.get(name)!.annotations[ANNOTATIONS.phase];
    const waiting = ['w1', 'w2', 'w4', 'w5', 'w6'];
    // While the claim is live, nobody starts.
    await until(() => c.clock.now().getTime() - started >= 590_000, c.clock);
    expect(waiting.map(phase)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const parks = (name: string) => (passes.get(name) ?? []).filter((k) => k === 'park').length;
    // Polled every 30 s, each would have looked 20 times; woken, the first in line looks on the
    // safety net's beat and the others once.
    expect(parks('w1')).toBeGreaterThanOrEqual(15);
    for (const name of ['w2', 'w4', 'w5', 'w6']) expect(parks(name), name).toBe(1);
    // The claim expires: the first in line starts, and each node that finishes wakes the next.
    await until(() => waiting.every((n) => phase(n) === 'Succeeded'), c.clock, 4_000);
    expect(c.maxMigrating()).toBe(1);
    for (const name of ['w2', 'w4', 'w5', 'w6']) expect(parks(name), name).toBeLessThanOrEqual(waiting.length);
    expect(c.api.lists).toBe(0);
    stop.abort();
    await running;
  });

  it('nodes held by the rollout gate wait parked; when the first in line finds it open, the others start with it (concurrency 2)', async () => {
    const c = watchedCluster(loadConfig({ sets: ['minReadyNodes=0', 'concurrency=2', 'rollout.blockingPodSelector=app=backup'] }));
    const rollout = c.deps.rollout as FakeRollout;
    rollout.pods = [{ name: 'ops/backup', labels: { app: 'backup' } }];
    const asked = { pods: 0 };
    const podsMatching = rollout.podsMatching.bind(rollout);
    rollout.podsMatching = (...args) => (asked.pods++, podsMatching(...args));
    const controller = new Controller({ engine: c.deps, watch: c.watch, lock: new FakeLock(), log: silentLog, renewIntervalMs: 2_000, leaseDurationMs: 15_000 });
    const stop = new AbortController();
    const running = controller.run(stop.signal);
    await until(() => c.watch.onChange !== undefined, c.clock);
    for (const node of c.nodes.nodes.values()) c.watch.onChange!(structuredClone(node));
    const blocked = (name: string) => c.nodes.nodes.get(name)!.annotations[ANNOTATIONS.blockedBy] ?? '';
    await until(() => /blockingPodSelector/.test(blocked('w1')) && /blockingPodSelector/.test(blocked('w2')), c.clock);
    const before = asked.pods;
    const from = c.clock.now().getTime();
    await until(() => c.clock.now().getTime() - from >= 300_000, c.clock);
    // Five minutes: each polled on its own would have asked 20 times; the first in line asks every 30 s.
    expect(asked.pods - before).toBeLessThanOrEqual(11);
    rollout.pods = [];
    const startedAt = (name: string) => c.nodes.nodes.get(name)!.annotations[ANNOTATIONS.startedAt];
    await until(() => startedAt('w1') !== undefined && startedAt('w2') !== undefined, c.clock);
    const [a, b] = ['w1', 'w2'].map((n) => Date.parse(startedAt(n)!));
    expect(Math.abs(a! - b!)).toBeLessThan(5_000); // together, not a poll apart
    stop.abort();
    await running;
  });

  it('a resync of an unchanged waiting node is no reconcile; a change to it is', () => {
    const woken: string[] = [];
    const slots = new SlotWaiters(1, (key) => woken.push(key));
    const now = new Date();
    const a = makeNode({ name: 'a' });
    expect(slots.observe(a, now)).toBe(true);
    slots.park('a');
    expect(slots.observe(a, now)).toBe(false); // the resync re-sends it unchanged
    expect(slots.observe({ ...a, resourceVersion: '2' }, now)).toBe(true);
    expect(slots.isParked('a')).toBe(false);
    // A node leaving the in-flight set wakes as many waiters as slots are free, longest waiting first.
    const busy = makeNode({ name: 'busy', annotations: { [ANNOTATIONS.phase]: 'Drained' } });
    slots.observe(busy, now);
    for (const k of ['x', 'y', 'z']) slots.park(k);
    slots.observe({ ...busy, resourceVersion: '9', annotations: { [ANNOTATIONS.phase]: 'Succeeded' } }, now);
    expect(woken).toEqual(['x']);
    // x is no longer selected: its pass ends without starting, and the next in line gets the slot.
    slots.passEnded('x', { kind: 'forget', reason: 'not selected' });
    expect(woken).toEqual(['x', 'y']);
    // y starts: its own write comes back through the watch mid-pass; when the pass ends, the gate
    // is known open and z is woken for the slot left (concurrency 2).
    const two = new SlotWaiters(2, (key) => woken.push(key));
    for (const k of ['p', 'q']) {
      two.observe(makeNode({ name: k }), now);
      two.park(k);
    }
    two.wakeFirst(1);
    two.observe(makeNode({ name: 'p', resourceVersion: '5', annotations: { [ANNOTATIONS.phase]: 'Pending', [ANNOTATIONS.intent]: 'Preflight' } }), now);
    two.passEnded('p', { kind: 'requeue', reason: 'reached Preflight' });
    expect(woken.slice(-2)).toEqual(['p', 'q']);
  });

  it('a waiting node that a change of its own brings back and that starts wakes the others for the slots left', () => {
    const woken: string[] = [];
    const slots = new SlotWaiters(2, (key) => woken.push(key));
    const now = new Date();
    for (const k of ['a', 'b']) {
      slots.observe(makeNode({ name: k }), now);
      slots.park(k);
    }
    // a's blocked-by annotation changes (its own object): it is reconciled, not woken, and the
    // blocking pod is gone by then: it starts.
    expect(slots.observe(makeNode({ name: 'a', resourceVersion: '2' }), now)).toBe(true);
    expect(woken).toEqual([]);
    slots.passEnded('a', { kind: 'requeue', reason: 'reached Preflight' });
    expect(woken).toEqual(['b']);
    // Brought back the same way but parked again (the gate still closed): nobody is woken.
    const other = new SlotWaiters(2, (key) => woken.push(key));
    for (const k of ['c', 'd']) {
      other.observe(makeNode({ name: k }), now);
      other.park(k);
    }
    other.observe(makeNode({ name: 'c', resourceVersion: '2' }), now);
    other.park('c');
    other.passEnded('c', { kind: 'park', reason: 'blocking pods' });
    expect(woken).toEqual(['b']);
    expect(other.isParked('c')).toBe(true);
  });
});
