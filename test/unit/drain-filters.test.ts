import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { classifyPod, classifyPods, type FilterContext } from '../../src/drain/filters.js';
import { parseSelector, matchesSelector } from '../../src/domain/selector.js';
import type { PodView } from '../../src/domain/types.js';

const now = new Date('2024-05-01T12:00:00Z');
function pod(overrides: Partial<PodView> = {}): PodView {
  return { namespace: 'default', name: 'p', uid: 'u', labels: {}, phase: 'Running', controllers: [{ kind: 'ReplicaSet', name: 'rs' }], mirror: false, usesEmptyDir: false, ...overrides };
}
function context(drain: Partial<FilterContext['drain']> = {}): FilterContext {
  const merged = { ...defaultConfig().drain, ...drain };
  return { drain: merged, podSelector: parseSelector(merged.podSelector), now };
}

describe('drain filters (kubectl drain semantics)', () => {
  it.each<[string, PodView, Partial<FilterContext['drain']>, string, RegExp?]>([
    ['replicated pod', pod(), {}, 'evict'],
    ['mirror pod', pod({ mirror: true, controllers: [{ kind: 'Node', name: 'n' }] }), {}, 'skip', /mirror pod/],
    ['DaemonSet pod', pod({ controllers: [{ kind: 'DaemonSet', name: 'ds' }] }), {}, 'skip', /DaemonSet/],
    ['DaemonSet pod with emptyDir', pod({ controllers: [{ kind: 'DaemonSet', name: 'ds' }], usesEmptyDir: true }), {}, 'skip', /DaemonSet/],
    ['emptyDir pod', pod({ usesEmptyDir: true }), {}, 'refuse', /deleteEmptyDirData/],
    ['emptyDir pod, allowed', pod({ usesEmptyDir: true }), { deleteEmptyDirData: true }, 'evict'],
    ['emptyDir pod annotated safe-to-evict', pod({ usesEmptyDir: true, safeToEvict: true }), {}, 'evict'],
    ['unmanaged pod annotated safe-to-evict, still refused', pod({ controllers: [], safeToEvict: true }), {}, 'refuse', /not managed/],
    ['unmanaged pod', pod({ controllers: [] }), {}, 'refuse', /drain.force/],
    ['unmanaged pod, forced', pod({ controllers: [] }), { force: true }, 'evict'],
    ['unmanaged emptyDir pod, only force', pod({ controllers: [], usesEmptyDir: true }), { force: true }, 'refuse', /emptyDir/],
    ['finished unmanaged pod', pod({ controllers: [], phase: 'Succeeded', usesEmptyDir: true }), {}, 'evict', /finished/],
    ['failed pod', pod({ phase: 'Failed' }), {}, 'evict', /finished/],
    ['pod outside podSelector', pod({ labels: { app: 'db' } }), { podSelector: 'app=web' }, 'skip', /podSelector/],
    ['pod inside podSelector', pod({ labels: { app: 'web' } }), { podSelector: 'app=web' }, 'evict'],
    ['pod deleted long ago', pod({ deletionTimestamp: new Date(now.getTime() - 120_000) }), { skipWaitForDeleteTimeoutSeconds: 60 }, 'skip', /deleted 120s ago/],
    ['pod deleted recently', pod({ deletionTimestamp: new Date(now.getTime() - 10_000) }), { skipWaitForDeleteTimeoutSeconds: 60 }, 'evict'],
    ['deleted pod, waiting for all', pod({ deletionTimestamp: new Date(0) }), {}, 'evict'],
  ])('%s', (_, p, drain, action, reason) => {
    const verdict = classifyPod(p, context(drain));
    expect(verdict.action).toBe(action);
    if (reason) expect(verdict.reason).toMatch(reason);
  });

  it('sorts a node full of pods into evict, skip and refuse', () => {
    const pods = [pod({ name: 'web' }), pod({ name: 'ds', controllers: [{ kind: 'DaemonSet', name: 'x' }] }), pod({ name: 'bare', controllers: [] })];
    const out = classifyPods(pods, defaultConfig().drain, now);
    expect(out.evict.map((p) => p.name)).toEqual(['web']);
    expect(out.skip.map((s) => s.pod.name)).toEqual(['ds']);
    expect(out.refuse.map((s) => s.pod.name)).toEqual(['bare']);
  });
});

describe('label selectors', () => {
  it.each<[string, Record<string, string>, boolean]>([
    ['a=b', { a: 'b' }, true],
    ['a==b', { a: 'b' }, true],
    ['a=b', { a: 'c' }, false],
    ['a!=b', {}, true],
    ['a!=b', { a: 'b' }, false],
    ['a', { a: '' }, true],
    ['!a', { a: 'x' }, false],
    ['a=b, c', { a: 'b', c: '1' }, true],
    ['a=b,c', { a: 'b' }, false],
    ['', { any: 'x' }, true],
  ])('%s on %j -> %s', (selector, labels, expected) => {
    expect(matchesSelector(labels, selector)).toBe(expected);
  });

  it('rejects nonsense', () => {
    expect(() => parseSelector('!a=b')).toThrow(/"!" only goes with a bare key/);
  });
});
