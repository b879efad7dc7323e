// The controller's NodeApi over the watch's cache: which copy a guarded write is sent with.
import { describe, expect, it } from 'vitest';
import { CachedNodeApi, TAINT_SETTLE_MS } from '../../src/controller/cached-nodes.js';
import type { NodePatch, NodeView } from '../../src/domain/types.js';
import type { NodeApi, PatchOptions } from '../../src/ports.js';
import { makeNode } from './fakes.js';

/** The API server's side: records what each write was sent with and returns the next version. */
class RecordingApi implements Pick<NodeApi, 'patch' | 'waitFor'> {
  sent: { patch: NodePatch; current?: NodeView }[] = [];
  version = 10;
  constructor(private node: NodeView) {}
  async patch(_name: string, patch: NodePatch, options: PatchOptions = {}): Promise<NodeView> {
    this.sent.push({ patch, current: options.current });
    this.node = { ...this.node, unschedulable: patch.unschedulable ?? this.node.unschedulable, resourceVersion: String(++this.version) };
    return structuredClone(this.node);
  }
  async waitFor(): Promise<NodeView> {
    this.node = { ...this.node, ready: true, resourceVersion: String(++this.version) };
    return structuredClone(this.node);
  }
}

function setUp(initial: NodeView) {
  const api = new RecordingApi(initial);
  let cache: NodeView | undefined = initial;
  const watch = { cached: () => (cache ? [cache] : undefined), cachedNode: () => cache };
  const sleeps: number[] = [];
  /** What the watch delivers after the cache has been looked at `after` times. */
  let onSleep: ((count: number) => void) | undefined;
  const nodes = new CachedNodeApi(api as unknown as NodeApi, watch, async (ms) => {
    sleeps.push(ms);
    onSleep?.(sleeps.length);
  });
  return {
    api,
    nodes,
    sleeps,
    deliver: (node: NodeView | undefined) => (cache = node),
    onSleep: (fn: (count: number) => void) => (onSleep = fn),
  };
}

const guard = () => true;

describe('CachedNodeApi', () => {
  it("after an uncordon, a guarded write waits for the watch to show the controller's taint removal and is sent with that copy", async () => {
    const t = setUp(makeNode({ unschedulable: true, unschedulableTaint: true, resourceVersion: '5' }));
    const uncordoned = await t.nodes.patch('w1', { unschedulable: false }, { guard });
    expect(uncordoned).toMatchObject({ unschedulable: false, unschedulableTaint: true, resourceVersion: '11' });
    // The watch shows our write, then (after three looks) the node lifecycle controller's.
    t.deliver({ ...uncordoned });
    t.onSleep((n) => {
      if (n === 3) t.deliver({ ...uncordoned, unschedulableTaint: false, resourceVersion: '12' });
    });
    await t.nodes.patch('w1', { labels: { done: 'yes' } }, { guard });
    expect(t.sleeps).toHaveLength(3);
    expect(t.api.sent[1]!.current).toMatchObject({ unschedulableTaint: false, resourceVersion: '12' });
  });

  it('does not wait when the taint is in line, or when the view knows no taint', async () => {
    const t = setUp(makeNode({ unschedulable: true, unschedulableTaint: true }));
    await t.nodes.patch('w1', { annotations: { a: 'b' } }, { guard });
    const plain = setUp(makeNode({ unschedulable: true }));
    await plain.nodes.patch('w1', { annotations: { a: 'b' } }, { guard });
    expect([t.sleeps, plain.sleeps]).toEqual([[], []]);
  });

  it('waits at most TAINT_SETTLE_MS for a taint that never changes, then writes with its newest copy', async () => {
    const t = setUp(makeNode({ unschedulable: false, unschedulableTaint: false, resourceVersion: '5' }));
    const cordoned = await t.nodes.patch('w1', { unschedulable: true }, { guard });
    await t.nodes.patch('w1', { annotations: { a: 'b' } }, { guard });
    expect(t.sleeps.reduce((a, b) => a + b, 0)).toBe(TAINT_SETTLE_MS);
    expect(t.api.sent[1]!.current).toEqual(cordoned);
  });

  it('an unguarded write never waits', async () => {
    const t = setUp(makeNode({ unschedulable: true, unschedulableTaint: false }));
    await t.nodes.patch('w1', { annotations: { a: 'b' } });
    expect(t.sleeps).toEqual([]);
    expect(t.api.sent[0]!.current).toBeUndefined();
  });

  it('a guarded write after a wait on the API server is sent with what the wait saw, the watch being behind', async () => {
    const t = setUp(makeNode({ ready: false, resourceVersion: '5' }));
    const seen = await t.nodes.waitFor('w1', (n) => n.ready, 1000, 'Ready');
    await t.nodes.patch('w1', { annotations: { a: 'b' } }, { guard });
    expect(t.api.sent[0]!.current).toEqual(seen);
    // Once the watch has caught up, its copy is the one used.
    t.deliver({ ...seen, resourceVersion: '99' });
    await t.nodes.patch('w1', { annotations: { c: 'd' } }, { guard });
    expect(t.api.sent[1]!.current).toMatchObject({ resourceVersion: '99' });
  });
});
