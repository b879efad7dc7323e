// Issue 12: a control-plane node is verified by its static pods, Ready on the new runtime (and on
// Docker again after a rollback), and only one control-plane node moves at a time.
import { describe, expect, it } from 'vitest';
import { migrateCommand, planCommand } from '../../src/cli/commands.js';
import { loadConfig } from '../../src/config.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import { controllerActor } from '../../src/domain/claim.js';
import { reconcileNode } from '../../src/engine/executor.js';
import { ApiUnavailableError, type StaticPodView } from '../../src/ports.js';
import { cliWorld } from './cli-world.js';
import { makeNode, type FakeClock } from './fakes.js';

const CP_LABELS = { 'cri-migrator.dev/migrate': 'containerd', 'node-role.kubernetes.io/control-plane': '' };
const components = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
const pods = (node: string, runtime: string, ready = true): StaticPodView[] => components.map((c) => ({ node, component: c, name: `${c}-${node}`, ready, runtime }));

function cpWorld(options: { comesBackOn?: 'containerd' | 'never'; others?: string[] } = {}) {
  const others = options.others ?? [];
  const w = cliWorld({ config: loadConfig({ sets: ['allowControlPlane=true', 'minReadyNodes=0'] }), w1: { labels: CP_LABELS } });
  for (const name of others) w.nodes.nodes.set(name, makeNode({ name, labels: { 'node-role.kubernetes.io/control-plane': '' } }));
  w.nodes.nodes.delete('cp');
  const clock = w.engine.clock as FakeClock;
  w.engine.controlPlane.pods = [...pods('w1', 'docker'), ...others.flatMap((n) => pods(n, 'docker'))];
  const mine = () => w.engine.controlPlane.pods.filter((p) => p.node === 'w1');
  // The kubelet restarts its static pods on the new runtime a while after it starts.
  w.remote.responders.unshift((cmd, o) => {
    if (o.mutates && cmd.includes('systemctl restart kubelet.service') && options.comesBackOn !== 'never') {
      for (const p of mine()) Object.assign(p, { ready: false, runtime: '' });
      void clock.sleep(20_000).then(() => mine().forEach((p) => Object.assign(p, { ready: true, runtime: 'containerd' })));
    }
    if (o.mutates && cmd.startsWith('systemctl start kubelet.service')) {
      void clock.sleep(10_000).then(() => mine().forEach((p) => Object.assign(p, { ready: true, runtime: 'docker' })));
    }
    return undefined;
  });
  return { w, clock, mine };
}

describe('control-plane nodes', () => {
  it('a single control plane from the CLI: Succeeded once its static pods are Ready on containerd', async () => {
    const { w, mine } = cpWorld();
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
    expect(mine().every((p) => p.ready && p.runtime === 'containerd')).toBe(true);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('Succeeded');
  });

  it('a single control plane whose API server is down from Docker\'s stop until the kubelet runs on containerd: the CLI rides it out', async () => {
    const { w, clock } = cpWorld();
    let down = false;
    let downSince = 0;
    let longest = 0;
    let stopped = false; // the fake's checks do not see that Docker stopped: count the stop once
    w.remote.responders.unshift((cmd, o) => {
      if (o.mutates && cmd.includes('systemctl stop $units') && !stopped) {
        stopped = true;
        down = true;
        downSince = clock.now().getTime();
      }
      if (o.mutates && cmd.includes('systemctl restart kubelet.service')) {
        void clock.sleep(15_000).then(() => {
          longest = Math.max(longest, clock.now().getTime() - downSince);
          down = false;
        });
      }
      return undefined;
    });
    const unavailable = () => new Error('reading node w1 failed', { cause: new ApiUnavailableError('connect ECONNREFUSED') });
    for (const method of ['get', 'list', 'patch'] as const) {
      const real = w.nodes[method].bind(w.nodes) as (...a: unknown[]) => Promise<unknown>;
      (w.nodes as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
        if (down) throw unavailable();
        return real(...args);
      };
    }
    const code = await migrateCommand(w.ctx, ['w1'], { retry: false });
    expect(w.stderr.join('')).toBe('');
    expect(code).toBe(0);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('Succeeded');
    expect(stopped).toBe(true); // the outage was simulated: the fake saw Docker's stop
    expect(longest).toBeGreaterThan(0);
    expect(w.progress.join('')).toMatch(/single control plane: starting the kubelet on containerd in the same step/);
  });

  it('the plan of a single control plane says what the guards checked and that the API server goes away', async () => {
    const { w } = cpWorld();
    await planCommand(w.ctx, ['w1'], { retry: false, output: 'text' });
    const text = w.stdout.join('');
    expect(text).toMatch(/single control plane: the API server is unavailable from the kubelet's stop until its static pods run on containerd/);
    expect(text).toMatch(/static pods to bring back on the new runtime: etcd, kube-apiserver, kube-controller-manager, kube-scheduler/);
  });

  it('the controller refuses a single control plane and says to use the CLI', async () => {
    const { w } = cpWorld();
    const controller = { ...w.engine, actor: controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'p', leaseSeconds: 60 }) };
    const pass = await reconcileNode('w1', controller);
    expect(pass).toMatchObject({ kind: 'settled', reason: expect.stringMatching(/only control-plane node.*cri-migrator migrate w1/) });
    expect(w.events.events.at(-1)).toMatchObject({ reason: 'MigrationNeedsAttention' });
  });

  it('static pods that never come back on containerd: rolled back, and the rollback waits for them on Docker', async () => {
    const { w, mine } = cpWorld({ comesBackOn: 'never', others: ['cp2', 'cp3'] });
    w.engine.config = loadConfig({ sets: ['allowControlPlane=true', 'minReadyNodes=0', 'verifyTimeoutSeconds=60'] });
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(1);
    const a = w.nodes.nodes.get('w1')!.annotations;
    expect(a[ANNOTATIONS.phase]).toBe('RolledBack');
    expect(a[ANNOTATIONS.rollbackReason]).toMatch(/the static pods of w1 were not Ready on containerd within 60s: etcd \(Ready on docker\)/);
    expect(mine().every((p) => p.ready && p.runtime === 'docker')).toBe(true);
  });

  it('one control-plane node at a time: the second waits while the first is in flight', async () => {
    const { w } = cpWorld({ others: ['cp2', 'cp3'] });
    w.nodes.update('cp2', (n) => ({ ...n, labels: { ...n.labels, ...CP_LABELS }, annotations: { [ANNOTATIONS.phase]: 'Drained' } }));
    w.engine.config = loadConfig({ sets: ['allowControlPlane=true', 'minReadyNodes=0', 'concurrency=5'] });
    const pass = await reconcileNode('w1', w.engine);
    expect(pass).toMatchObject({ kind: 'wait', reason: 'one control-plane node at a time: cp2 is migrating' });
  });
});
