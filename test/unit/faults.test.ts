// Issue 7: faults at every step. Backoff is state on the node, honoured by every driver; the drain's
// time limit is overall; a node whose sshd or API server does not answer is waited for, not
// failed; Events say only what is true.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { WorkQueue } from '../../src/controller/queue.js';
import { reconcileKey } from '../../src/controller/reconciler.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import { ApiUnavailableError, HostUnreachableError } from '../../src/domain/errors.js';
import { driveNode } from '../../src/engine/drive.js';
import { reconcileNode } from '../../src/engine/executor.js';
import { ActionFailedError, backoffMs, classifyFailure, unavailableBackoffMs } from '../../src/engine/retry.js';
import { NodeGoneError, StaleStateError } from '../../src/ports.js';
import { cliWorld } from './cli-world.js';
import type { FakeClock } from './fakes.js';

const RESTART_CONTAINERD = 'systemctl restart containerd.service';

/** w1 whose containerd restart fails (exit 1) on the way forward (not in rollback); times of each attempt recorded. */
function failingWorld(sets: string[] = []) {
  const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1', ...sets] }) });
  const failing = () => w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase] !== 'RollingBack';
  const clock = w.engine.clock as FakeClock;
  const attempts: number[] = [];
  const t0 = clock.now().getTime();
  w.remote.responders.unshift((cmd, o) => {
    if (!o.mutates || !cmd.includes(RESTART_CONTAINERD) || !failing()) return undefined;
    attempts.push((clock.now().getTime() - t0) / 1000);
    return { code: 1, stdout: '', stderr: 'containerd does not answer' };
  });
  const annotations = () => w.nodes.nodes.get('w1')!.annotations;
  return { w, clock, attempts, annotations };
}

describe('backoff as state on the node', () => {
  it('records the next attempt on the node, and every pass (any actor) waits until then', async () => {
    const { w, clock, annotations } = failingWorld();
    // Up to the failing step.
    for (;;) {
      try {
        await reconcileNode('w1', w.engine);
      } catch (err) {
        expect(err).toBeInstanceOf(ActionFailedError);
        break;
      }
    }
    expect(annotations()[ANNOTATIONS.attempt]).toBe('1');
    const next = new Date(annotations()[ANNOTATIONS.nextAttemptAt]!);
    expect(next.getTime() - clock.now().getTime()).toBe(5_000);
    const commands = w.remote.commands.length;
    // A pass right away, as a watch event for our own failure patch would cause: it waits.
    const pass = await reconcileNode('w1', w.engine);
    expect(pass).toMatchObject({ kind: 'wait', requeueAfterMs: 5_000 });
    expect(pass.kind === 'wait' && pass.reason).toMatch(/retrying RuntimeConfigured: attempt 1\/3 failed .*next attempt at/);
    expect(w.remote.commands.length).toBe(commands); // nothing ran on the node
    // Once the time has come, the next pass acts again.
    await clock.sleep(5_000);
    await expect(reconcileNode('w1', w.engine)).rejects.toBeInstanceOf(ActionFailedError);
    expect(annotations()[ANNOTATIONS.attempt]).toBe('2');
  });

  it('spaces attempts initial, 2x, 4x, capped, then rolls back', async () => {
    const { w, attempts, annotations } = failingWorld(['retries.maxAttempts=5', 'retries.initialBackoffSeconds=5', 'retries.maxBackoffSeconds=12']);
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'RolledBack' });
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps).toEqual([5, 10, 12, 12]);
    expect(annotations()[ANNOTATIONS.nextAttemptAt]).toBeUndefined();
  });

  it('the controller: a failure\'s own watch event does not shorten the wait', async () => {
    const { w, clock, attempts } = failingWorld();
    const queue = new WorkQueue<string>(clock);
    // Reconcile whatever is queued, as the controller's workers do; every patch of the node
    // re-adds its key at once, as the node watch does.
    const patch = w.nodes.patch.bind(w.nodes);
    w.nodes.patch = async (...args) => {
      const out = await patch(...args);
      queue.add('w1');
      return out;
    };
    queue.add('w1');
    const t0 = clock.now().getTime();
    while (attempts.length < 3) {
      const key = await queue.get();
      await reconcileKey(key!, w.engine, queue);
      queue.done(key!);
    }
    expect(attempts).toEqual([0, 5, 15]);
    expect((clock.now().getTime() - t0) / 1000).toBe(15);
  });

  it('one classification for both drivers', () => {
    const recorded = new ActionFailedError('w1', 'drain', false, 'x');
    expect(classifyFailure(recorded)).toEqual({ kind: 'recorded' });
    expect(classifyFailure(new Error('a', { cause: new StaleStateError('b') }))).toEqual({ kind: 'stale' });
    expect(classifyFailure(new NodeGoneError('w1'))).toEqual({ kind: 'gone' });
    expect(classifyFailure(new Error('listing nodes failed', { cause: new ApiUnavailableError('ECONNREFUSED') }))).toEqual({ kind: 'backoff', unavailable: true });
    expect(classifyFailure(new Error('a bug'))).toEqual({ kind: 'backoff', unavailable: false });
    const retries = { initialBackoffSeconds: 5, maxBackoffSeconds: 300, unavailableMaxBackoffSeconds: 30 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, retries) / 1000)).toEqual([5, 10, 20, 40, 80, 160, 300, 300]);
    expect([1, 2, 3, 4, 5].map((n) => unavailableBackoffMs(n, retries) / 1000)).toEqual([5, 10, 20, 30, 30]);
  });
});

describe('the drain time limit is overall', () => {
  it('a PodDisruptionBudget that never allows an eviction rolls back at drain.timeoutSeconds, counted from the first attempt', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1', 'drain.timeoutSeconds=90'] }) });
    const clock = w.engine.clock as FakeClock;
    w.evictor.blockedFor.set('web-2', Infinity);
    // The first attempt fails early (the API server blips); the second may only use what is left.
    let lists = 0;
    const list = w.evictor.listPodsOnNode.bind(w.evictor);
    w.evictor.listPodsOnNode = async () => {
      if (lists++ === 0) throw new Error('listing the pods failed: a blip');
      return list();
    };
    const drainStarted: number[] = [];
    const patch = w.nodes.patch.bind(w.nodes);
    w.nodes.patch = async (name, p, o) => {
      if (p.annotations?.[ANNOTATIONS.intent] === 'Drained') drainStarted.push(clock.now().getTime());
      return patch(name, p, o);
    };
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'RolledBack' });
    const node = w.nodes.nodes.get('w1')!;
    const failedAt = w.events.events.findIndex((e) => e.reason === 'MigrationRollingBack');
    expect(failedAt).toBeGreaterThan(0);
    expect(node.annotations[ANNOTATIONS.rollbackReason]).toMatch(/timed out after 90s \(drain.timeoutSeconds, counted from the first attempt\)/);
    const rollingBack = w.events.events[failedAt]!;
    expect(rollingBack.message).toMatch(/Drained failed 3 times/);
    // From the drain's intent to the end: 90 s of drain plus the rollback, not 3 x 90 s.
    const total = (new Date(node.annotations[ANNOTATIONS.finishedAt]!).getTime() - drainStarted[0]!) / 1000;
    expect(total).toBeGreaterThanOrEqual(90);
    expect(total).toBeLessThan(100);
  });
});

describe('what is outside the node is waited for, not failed', () => {
  it('sshd refusing at preflight: the node is blocked and back in Pending (nothing changed), then migrates', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    const connect = w.engine.connect;
    const until = clock.now().getTime() + 60_000;
    w.engine.connect = async (node) => {
      if (clock.now().getTime() < until) throw new HostUnreachableError(`SSH connection to root@10.0.0.2:22 failed: connect ECONNREFUSED`);
      return connect(node);
    };
    const first = await reconcileNode('w1', w.engine).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ActionFailedError);
    const a = w.nodes.nodes.get('w1')!.annotations;
    expect(a[ANNOTATIONS.phase]).toBe('Pending');
    expect(a[ANNOTATIONS.intent]).toBeUndefined();
    expect(a[ANNOTATIONS.attempt]).toBe('0');
    expect(a[ANNOTATIONS.blockedBy]).toMatch(/cannot reach w1 over SSH: SSH connection .* ECONNREFUSED/);
    expect(a[ANNOTATIONS.nextAttemptAt]).toBeDefined();
    expect(w.nodes.nodes.get('w1')!.unschedulable).toBe(false);
    expect(w.events.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'MigrationBlocked', message: expect.stringMatching(/not counted as an attempt/) });
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    expect(w.events.events.filter((e) => e.reason === 'MigrationBlocked').length).toBeGreaterThan(3); // more than maxAttempts, never rolled back
  });

  it('sshd gone for 60 s mid-migration, and a connection lost mid-step: retried, not counted, the node ends Succeeded', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    const connect = w.engine.connect;
    let down: number | undefined;
    w.engine.connect = async (node) => {
      const a = w.nodes.nodes.get('w1')!.annotations;
      if (down === undefined && a[ANNOTATIONS.intent] === 'RuntimeConfigured') down = clock.now().getTime() + 60_000;
      if (down !== undefined && clock.now().getTime() < down) throw new HostUnreachableError('connect ETIMEDOUT');
      return connect(node);
    };
    let lost = false;
    w.remote.responders.unshift((cmd, o) => {
      if (o.mutates && cmd.includes('systemctl restart kubelet.service') && !lost) {
        lost = true;
        throw new HostUnreachableError('the SSH connection closed while the command ran');
      }
      return undefined;
    });
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    expect(w.events.events.some((e) => e.reason === 'MigrationRollingBack')).toBe(false);
    expect(w.events.events.filter((e) => e.reason === 'MigrationStepFailed' && /not counted/.test(e.message)).length).toBeGreaterThan(3);
  });

  it('the API server not answering: the CLI rides it out and resumes from the node', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    const get = w.nodes.get.bind(w.nodes);
    let pausedUntil: number | undefined;
    w.nodes.get = async (name) => {
      const a = w.nodes.nodes.get(name)!.annotations;
      if (pausedUntil === undefined && a[ANNOTATIONS.phase] === 'Drained') pausedUntil = clock.now().getTime() + 30_000;
      if (pausedUntil !== undefined && clock.now().getTime() < pausedUntil) throw new Error(`reading node ${name} failed`, { cause: new ApiUnavailableError('the API server did not answer') });
      return get(name);
    };
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    expect(pausedUntil).toBeDefined();
  });
});

describe('events and status say what happened', () => {
  it('a Failed node whose files were never touched says so, instead of naming a backup that does not exist', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1', 'rollback=never'] }), host: { runc: '' } });
    await driveNode('w1', w.engine);
    const failed = w.events.events.find((e) => e.reason === 'MigrationFailed')!;
    expect(failed.message).toMatch(/no file on the node had been changed/);
    expect(failed.message).not.toMatch(/backup\//);
  });

  it('a Failed node whose files were backed up names the backup of that run', async () => {
    const { w } = failingWorld(['rollback=never']);
    await driveNode('w1', w.engine);
    const a = w.nodes.nodes.get('w1')!.annotations;
    expect(a[ANNOTATIONS.phase]).toBe('Failed');
    expect(a[ANNOTATIONS.backupDir]).toMatch(/^\/var\/lib\/cri-migrator\/backup\/\d{8}T\d{6}Z$/);
    expect(w.events.events.find((e) => e.reason === 'MigrationFailed')!.message).toContain(`the original files are in ${a[ANNOTATIONS.backupDir]} on the node`);
  });

  it('the label removed mid-migration: finished, said once, not repeated', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    for (let i = 0; i < 3; i++) await reconcileNode('w1', w.engine); // Preflight, Cordoned, Drained
    w.nodes.update('w1', (n) => ({ ...n, labels: {} }));
    const result = await driveNode('w1', w.engine);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    const said = w.events.events.filter((e) => e.reason === 'MigrationLabelRemoved');
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toMatch(/^label removed: finishing the migration already under way; it will not be repeated/);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.unselectedAt]).toBeDefined();
  });
});
