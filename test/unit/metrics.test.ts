import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/controller/http.js';
import { collectNodesByPhase, controllerMetrics, MetricsEvents, MetricsRegistry, ObservedLock } from '../../src/controller/metrics.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import type { Lock } from '../../src/ports.js';
import { FakeClock, FakeEvents, FakeNodeApi, makeNode, silentLog } from './fakes.js';

describe('metrics: Prometheus text exposition', () => {
  it('writes HELP, TYPE and samples for counters and gauges, with escaped labels', async () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_total', 'Things.\nMore: a\\b');
    c.inc();
    c.inc({ action: 'drain' }, 2);
    c.inc({ action: 'drain' });
    r.gauge('g', 'A gauge.').set({ phase: 'say "hi"\n' }, 1.5);
    expect(await r.expose()).toBe(
      [
        '# HELP x_total Things.\\nMore: a\\\\b',
        '# TYPE x_total counter',
        'x_total 1',
        'x_total{action="drain"} 3',
        '# HELP g A gauge.',
        '# TYPE g gauge',
        'g{phase="say \\"hi\\"\\n"} 1.5',
        '',
      ].join('\n'),
    );
  });

  it('writes cumulative histogram buckets, +Inf, sum and count', async () => {
    const r = new MetricsRegistry();
    const h = r.histogram('d_seconds', 'Durations.', [60, 300]);
    h.observe({ outcome: 'succeeded' }, 47);
    h.observe({ outcome: 'succeeded' }, 200);
    h.observe({ outcome: 'succeeded' }, 1000);
    expect(await r.expose()).toBe(
      [
        '# HELP d_seconds Durations.',
        '# TYPE d_seconds histogram',
        'd_seconds_bucket{outcome="succeeded",le="60"} 1',
        'd_seconds_bucket{outcome="succeeded",le="300"} 2',
        'd_seconds_bucket{outcome="succeeded",le="+Inf"} 3',
        'd_seconds_sum{outcome="succeeded"} 1247',
        'd_seconds_count{outcome="succeeded"} 3',
        '',
      ].join('\n'),
    );
  });

  it('refuses bad names, duplicates, decreasing counters and unordered buckets', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter('bad-name', '')).toThrow(/invalid metric name/);
    r.gauge('g', '');
    expect(() => r.gauge('g', '')).toThrow(/twice/);
    expect(() => r.counter('c', '').inc({}, -1)).toThrow(/cannot decrease/);
    expect(() => r.histogram('h', '', [2, 1])).toThrow(/increase/);
  });
});

describe('metrics: the controller', () => {
  it('counts nodes by phase at scrape time (every phase, zeros included)', async () => {
    const m = controllerMetrics();
    const nodes = new FakeNodeApi(
      new FakeClock(),
      makeNode({ name: 'a' }),
      makeNode({ name: 'b', annotations: { [ANNOTATIONS.phase]: 'Drained' } }),
      makeNode({ name: 'c', labels: {}, annotations: { [ANNOTATIONS.phase]: 'Succeeded' } }),
      makeNode({ name: 'd', labels: {} }),
    );
    collectNodesByPhase(m, nodes, 'cri-migrator.dev/migrate=containerd', silentLog);
    const text = await m.registry.expose();
    expect(text).toContain('cri_migrator_nodes{phase="Pending"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="Drained"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="Succeeded"} 1\n');
    expect(text).toContain('cri_migrator_nodes{phase="RolledBack"} 0\n');
    // A node changes phase: the next scrape says so.
    nodes.update('b', (n) => ({ ...n, annotations: { [ANNOTATIONS.phase]: 'RolledBack' } }));
    const again = await m.registry.expose();
    expect(again).toContain('cri_migrator_nodes{phase="Drained"} 0\n');
    expect(again).toContain('cri_migrator_nodes{phase="RolledBack"} 1\n');
  });

  it('counts step failures, rollbacks and failures and times migrations from the events the engine records', async () => {
    const m = controllerMetrics();
    const nodes = new FakeNodeApi(
      new FakeClock(),
      makeNode({ name: 'w1', annotations: { [ANNOTATIONS.startedAt]: '2024-05-01T12:00:00.000Z', [ANNOTATIONS.finishedAt]: '2024-05-01T12:00:47.000Z' } }),
    );
    const inner = new FakeEvents();
    const events = new MetricsEvents(inner, m, nodes, silentLog);
    await events.record('w1', { type: 'Warning', reason: 'MigrationStepFailed', message: 'drain (attempt 1/3): timed out' });
    await events.record('w1', { type: 'Normal', reason: 'MigrationDrained', message: 'Cordoned -> Drained' });
    await events.record('w1', { type: 'Normal', reason: 'MigrationSucceeded', message: 'done' });
    await events.record('w1', { type: 'Warning', reason: 'MigrationRolledBack', message: 'rolled back' });
    const text = await m.registry.expose();
    expect(inner.events).toHaveLength(4);
    expect(text).toContain('cri_migrator_step_failures_total{action="drain"} 1\n');
    expect(text).toContain('cri_migrator_rollbacks_total 1\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_bucket{outcome="succeeded",le="60"} 1\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_sum{outcome="succeeded"} 47\n');
    expect(text).toContain('cri_migrator_migration_duration_seconds_count{outcome="rolled_back"} 1\n');
    expect(text).not.toContain('cri_migrator_failures_total 1');
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
    expect(await m.registry.expose()).toContain('cri_migrator_leader 0\n');
    await lock.tryAcquire();
    expect(await m.registry.expose()).toContain('cri_migrator_leader 1\n');
    answer = false;
    await lock.tryAcquire();
    expect(lock.apiReachable).toBe(true);
    expect(await m.registry.expose()).toContain('cri_migrator_leader 0\n');
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
