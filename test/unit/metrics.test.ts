import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/controller/http.js';
import { controllerMetrics, MetricsObserver, ObservedLock } from '../../src/controller/metrics.js';
import { loadConfig } from '../../src/config.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import type { Lock } from '../../src/ports.js';
import { FakeClock, FakeNodeApi, makeNode, silentLog } from './fakes.js';

describe('metrics: the controller', () => {
  it('counts nodes by phase at scrape time (every phase, zeros included)', async () => {
    const nodes = new FakeNodeApi(
      new FakeClock(),
      makeNode({ name: 'a' }),
      makeNode({ name: 'b', annotations: { [ANNOTATIONS.phase]: 'Drained' } }),
      makeNode({ name: 'c', labels: {}, annotations: { [ANNOTATIONS.phase]: 'Succeeded' } }),
      makeNode({ name: 'd', labels: {} }),
    );
    let reads = 0;
    const m = controllerMetrics({ nodes: () => (reads++, nodes.list()), rollout: async () => ({ paused: undefined, blockingPods: [] }), config: loadConfig({}), log: silentLog });
    const text = await m.registry.metrics();
    expect(reads).toBe(1); // one read for the three gauges of a scrape
    expect(text).toContain('cri_migrator_nodes{phase="Pending"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="Drained"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="Succeeded"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="RolledBack"} 0\n');
    // A node changes phase: the next scrape says so.
    nodes.update('b', (n) => ({ ...n, annotations: { [ANNOTATIONS.phase]: 'RolledBack' } }));
    const again = await m.registry.metrics();
    expect(again).toContain('cri_migrator_nodes{phase="Drained"} 0\n');
    expect(again).toContain('cri_migrator_nodes{phase="RolledBack"} 1\n');
  });

  it('counts step failures, rollbacks and failures and times migrations from the engine\'s observer stream', async () => {
    const m = controllerMetrics();
    const observer = new MetricsObserver(m);
    const failed = { type: 'stepFailed', node: 'w1', attempt: 1, maxAttempts: 3, message: 'timed out', terminal: false, unavailable: false, nextAttemptAt: undefined } as const;
    observer.emit({ ...failed, action: 'drain' });
    observer.emit({ type: 'phase', node: 'w1', action: 'drain', phase: 'Drained', tookMs: 9_000 });
    observer.emit({ type: 'finished', node: 'w1', outcome: 'succeeded', durationMs: 47_000 });
    observer.emit({ type: 'finished', node: 'w2', outcome: 'rolled_back', durationMs: 100_000 });
    observer.emit({ type: 'finished', node: 'w3', outcome: 'succeeded', durationMs: undefined }); // adopted: no start time
    const text = await m.registry.metrics();
    expect(text).toContain('cri_migrator_step_failures_total{action="drain"} 1\n');
    expect(text).toContain('cri_migrator_rollbacks_total 1\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_bucket{le="60",outcome="succeeded"} 1\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_sum{outcome="succeeded"} 47\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_count{outcome="succeeded"} 1\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_count{outcome="rolled_back"} 1\n');
    expect(text).toContain('cri_migrator_failures_total 0\n');
  });

  it('reports whether the rollout is halted, and why no new node may start', async () => {
    const nodes = new FakeNodeApi(new FakeClock(), makeNode({ name: 'a', annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.halt]: 'ended RolledBack: x' } }));
    let paused: { by: string; at: Date; reason: string } | undefined;
    const m = controllerMetrics({ nodes: () => nodes.list(), rollout: async () => ({ paused, blockingPods: [] }), config: loadConfig({}), log: silentLog });
    let text = await m.registry.metrics();
    expect(text).toContain('cri_migrator_rollout_halted 1\n');
    expect(text).toContain('cri_migrator_rollout_blocked{reason="halted"} 1\n');
    expect(text).toContain('cri_migrator_rollout_blocked{reason="paused"} 0\n');
    nodes.update('a', (n) => ({ ...n, annotations: { [ANNOTATIONS.phase]: 'RolledBack' } }));
    paused = { by: 'cli@x/1', at: new Date(), reason: '' };
    text = await m.registry.metrics();
    expect(text).toContain('cri_migrator_rollout_halted 0\n');
    expect(text).toContain('cri_migrator_rollout_blocked{reason="paused"} 1\n');
    expect(text).toContain('cri_migrator_rollout_blocked{reason="halted"} 0\n');
  });

  it('reports leadership and whether the API server answered', async () => {
    const m = controllerMetrics();
    let answer: boolean | Error = true;
    const inner: Lock = {
      tryAcquire: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
      release: async () => undefined,
    };
    const lock = new ObservedLock(inner, m);
    expect(lock.apiReachable).toBeUndefined();
    expect(await m.registry.metrics()).toContain('cri_migrator_leader 0\n');
    await lock.tryAcquire();
    expect(await m.registry.metrics()).toContain('cri_migrator_leader 1\n');
    answer = false;
    await lock.tryAcquire();
    expect(lock.apiReachable).toBe(true);
    expect(await m.registry.metrics()).toContain('cri_migrator_leader 0\n');
    answer = new Error('connect ECONNREFUSED');
    await expect(lock.tryAcquire()).rejects.toThrow();
    expect(lock).toMatchObject({ apiReachable: false, lastError: 'connect ECONNREFUSED' });
  });
});

describe('metrics: HTTP endpoints', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    const m = controllerMetrics();
    m.rollbacks.inc();
    let notReady: string | null = 'no leader election attempt yet';
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', registry: m.registry, notReadyReason: () => notReady, log: silentLog });
    close = server.close;
    const base = `http://127.0.0.1:${server.port}`;

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await metrics.text()).toContain('cri_migrator_rollbacks_total 1\n');

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toBe('not ready: no leader election attempt yet\n');
    notReady = null;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
