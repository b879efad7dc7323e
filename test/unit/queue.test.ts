import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/controller/queue.js';
import { FakeClock } from './fakes.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('work queue', () => {
  it('collapses repeated adds of a queued key', async () => {
    const q = new WorkQueue<string>(new FakeClock());
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands out a key that is being processed; a re-add comes back after done', async () => {
    const q = new WorkQueue<string>(new FakeClock());
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    expect(q.isProcessing('a')).toBe(true);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await tick();
    expect(second).toBeUndefined();
    q.done(key!);
    await tick();
    expect(second).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue<string>(new FakeClock());
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('adds after a delay, keeping the earliest of several delays', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>(clock);
    const start = clock.now().getTime();
    q.addAfter('a', 30_000);
    q.addAfter('a', 5_000);
    q.addAfter('a', 60_000);
    expect(q.length).toBe(0);
    expect(await q.get()).toBe('a');
    expect(clock.now().getTime() - start).toBe(5_000);
    q.done('a');
    await clock.sleep(100_000);
    expect(q.length).toBe(0); // the superseded timers did not add it again
  });

  it('counts failures in a row per key until forgotten', () => {
    const q = new WorkQueue<string>(new FakeClock());
    expect([1, 2, 3].map(() => q.noteFailure('a'))).toEqual([1, 2, 3]);
    expect(q.noteFailure('b')).toBe(1);
    q.forget('a');
    expect(q.failuresOf('a')).toBe(0);
    expect(q.noteFailure('a')).toBe(1);
  });

  it('releases waiting workers and ignores adds after shut down', async () => {
    const q = new WorkQueue<string>(new FakeClock());
    const waiting = q.get();
    q.addAfter('late', 1_000);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('a');
    expect(await q.get()).toBeUndefined();
  });
});
