import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { ANNOTATIONS, KUBEADM_CRI_SOCKET_ANNOTATION, MIGRATED_LABEL, serializeState } from '../../src/domain/annotations.js';
import type { MigrationState, NodeView } from '../../src/domain/types.js';
import { driveNode } from '../../src/engine/drive.js';
import { ActionFailedError, reconcileNode, type EngineDeps } from '../../src/engine/executor.js';
import { withDryRun } from '../../src/dry-run.js';
import type { DryRunRecord } from '../../src/engine/observer.js';
import { factsOutput } from './facts-fixture.js';
import { fakeEngine, FakeClock, FakeEvents, FakeSmoke, FakeEvictor, FakeNodeApi, FakeRemote, makeNode, makePod, type Responder } from './fakes.js';

const DOCKERSHIM_SOCKET = '/var/run/dockershim.sock';

interface World {
  deps: EngineDeps;
  clock: FakeClock;
  nodes: FakeNodeApi;
  evictor: FakeEvictor;
  remote: FakeRemote;
  events: FakeEvents;
  smoke: FakeSmoke;
}

/** A cluster with worker w1 on Docker (and Ready peers), whose kubelet comes back on containerd when restarted. */
function world(options: { config?: Config; w1?: Partial<NodeView>; kubeletComesBack?: 'containerd' | 'never'; responders?: Responder[] } = {}): World {
  const config = options.config ?? loadConfig({ sets: ['minReadyNodes=1'] });
  const clock = new FakeClock();
  const w1 = makeNode({ annotations: { [KUBEADM_CRI_SOCKET_ANNOTATION]: DOCKERSHIM_SOCKET }, ...options.w1 });
  const nodes = new FakeNodeApi(clock, w1, makeNode({ name: 'w2', labels: {} }), makeNode({ name: 'cp', labels: { 'node-role.kubernetes.io/control-plane': '' } }));
  const evictor = new FakeEvictor([
    makePod('web-1'),
    makePod('web-2'),
    makePod('kube-proxy-x', { namespace: 'kube-system', controllers: [{ kind: 'DaemonSet', name: 'kube-proxy' }] }),
  ]);
  // What `docker save | ctr import` put into containerd, as the next facts probe sees it.
  const inContainerd: string[] = [];
  const responders: Responder[] = [
    ...(options.responders ?? []),
    (cmd, o) => {
      const carried = /ctr -n k8s\.io images import .* grep -qxF '?([^' ]+)'?$/.exec(cmd);
      if (o.mutates && carried) inContainerd.push(carried[1]!);
      return undefined;
    },
    (cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: factsOutput({ images: { inContainerd: [...inContainerd] } }), stderr: '' } : undefined),
    // The playbook's preflight asserts hold on this host.
    (cmd, o) => (!o.mutates && /^(test -[df] |systemctl cat )/.test(cmd) ? { code: 0, stdout: '', stderr: '' } : undefined),
    (cmd, o) => {
      if (o.mutates && cmd.includes('systemctl restart kubelet.service') && options.kubeletComesBack !== 'never') {
        nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'containerd://1.6.20' }));
      }
      if (o.mutates && cmd.includes('systemctl stop kubelet.service')) nodes.update('w1', (n) => ({ ...n, ready: false }));
      if (o.mutates && cmd.startsWith('systemctl start kubelet.service')) {
        nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'docker://20.10.24' }));
      }
      return undefined;
    },
  ];
  const remote = new FakeRemote(responders);
  const deps = fakeEngine({ config, nodes, evictor, clock, connect: async () => remote });
  const { events, smoke } = deps;
  return { deps, clock, nodes, evictor, remote, events, smoke };
}

function state(w: World, name = 'w1'): Record<string, string> {
  return w.nodes.nodes.get(name)!.annotations;
}

describe('engine: a full migration with fakes', () => {
  it('takes a Docker worker to containerd: cordon, drain (through a PDB), configure, switch, verify, uncordon', async () => {
    const w = world();
    w.evictor.blockedFor.set('web-2', 2);
    const result = await driveNode('w1', w.deps);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });

    const node = w.nodes.nodes.get('w1')!;
    expect(node.unschedulable).toBe(false);
    expect(node.labels[MIGRATED_LABEL]).toBe('containerd');
    expect(node.annotations[ANNOTATIONS.phase]).toBe('Succeeded');
    expect(node.annotations[ANNOTATIONS.intent]).toBeUndefined();
    expect(node.annotations[ANNOTATIONS.wasUnschedulable]).toBe('false');
    expect(node.annotations[ANNOTATIONS.sourceRuntime]).toBe('dockershim');
    expect(node.annotations[ANNOTATIONS.previousCriSocket]).toBe(DOCKERSHIM_SOCKET);
    expect(node.annotations[KUBEADM_CRI_SOCKET_ANNOTATION]).toBe('unix:///run/containerd/containerd.sock');
    expect(node.annotations[ANNOTATIONS.finishedAt]).toBeDefined();
    expect(node.annotations[ANNOTATIONS.blockedBy]).toBeUndefined();

    // Drain: DaemonSet pod skipped, the PDB-guarded pod retried until allowed.
    expect(w.evictor.evictions.map((e) => e.pod)).toEqual(['web-1', 'web-2', 'web-2', 'web-2']);
    expect(w.evictor.pods.map((p) => p.name)).toEqual(['kube-proxy-x']);
    const blocked = w.nodes.patches.find((p) => p.patch.annotations?.[ANNOTATIONS.blockedBy]);
    expect(blocked?.patch.annotations?.[ANNOTATIONS.blockedBy]).toMatch(/default\/web-2 \(PodDisruptionBudget web-2-pdb\)/);
    expect(w.events.events.some((e) => e.reason === 'DrainBlocked' && e.message.includes('web-2-pdb'))).toBe(true);

    // Host: files written, containerd restarted before the kubelet came back.
    expect(w.remote.files.get('/etc/containerd/config.toml')?.content).toContain('SystemdCgroup = true');
    expect(w.remote.files.get('/var/lib/kubelet/kubeadm-flags.env')?.content).toBe(
      'KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=k8s.gcr.io/pause:3.6"\n',
    );
    const mutations = w.remote.commands.filter((c) => c.mutates).map((c) => c.command);
    const restartContainerd = mutations.findIndex((c) => c.includes('systemctl restart containerd.service'));
    const restartKubelet = mutations.findIndex((c) => c.includes('systemctl restart kubelet.service'));
    expect(restartContainerd).toBeGreaterThan(-1);
    expect(restartKubelet).toBeGreaterThan(restartContainerd);
    expect(w.remote.closed).toBeGreaterThan(0);

    expect(w.smoke.runs).toEqual([{ node: 'w1', image: 'k8s.gcr.io/pause:3.6' }]);
    expect(w.events.events.filter((e) => e.reason.startsWith('Migration')).map((e) => e.reason)).toEqual([
      'MigrationPreflight',
      'MigrationCordoned',
      'MigrationImagesCarried', // during the drain
      'MigrationDrained',
      'MigrationRuntimeConfigured',
      'MigrationKubeletSwitched',
      'MigrationVerified',
      'MigrationUncordoned',
      'MigrationSucceeded',
    ]);
  });

  it('carries the images while the node drains, once its pods are found evictable; the runtime stage finds them there', async () => {
    const seen: { ref: string; phase?: string; intent?: string; evicted: number }[] = [];
    let w: World | undefined;
    const w0 = world({
      responders: [
        (cmd, o) => {
          const ref = /grep -qxF '?([^' ]+)'?$/.exec(cmd)?.[1];
          if (o.mutates && ref && cmd.includes('images import')) {
            const a = w!.nodes.nodes.get('w1')!.annotations;
            seen.push({ ref, phase: a[ANNOTATIONS.phase], intent: a[ANNOTATIONS.intent], evicted: w!.evictor.evictions.length });
          }
          return undefined;
        },
      ],
    });
    w = w0;
    w.evictor.blockedFor.set('web-2', 2);
    expect(await driveNode('w1', w.deps)).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    // Each image once, all of them while the drain was under way (Cordoned, intent Drained).
    expect(seen.map((s) => s.ref).sort()).toEqual(['docker.io/library/busybox:1.36', 'k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6']);
    expect(seen.every((s) => s.phase === 'Cordoned' && s.intent === 'Drained')).toBe(true);
    const carriedEvents = w.events.events.filter((e) => e.reason === 'MigrationImagesCarried');
    expect(carriedEvents).toHaveLength(1);
    expect(carriedEvents[0]!.message).toMatch(/^carried 3 images, .*; 0 already in containerd$/);
  });

  it('gives up the carry during the drain when the drain is over before its connection is made: the runtime stage carries, once', async () => {
    const w = world();
    const connect = w.deps.connect;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    // The second connection is the one started beside the drain (preflight made the first).
    w.deps.connect = async (node) => {
      calls++;
      if (calls === 2) await held;
      return connect(node);
    };
    const result = await driveNode('w1', w.deps);
    const ran = w.remote.commands.length;
    release(); // the connection comes now: the work given up runs nothing on it
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(w.remote.commands.length).toBe(ran);
    expect(result).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    const carries = w.remote.commands.filter((c) => c.mutates && c.command.includes('images import'));
    expect(carries).toHaveLength(3); // each image once, by the runtime stage
    expect(w.events.events.filter((e) => e.reason === 'MigrationImagesCarried')).toHaveLength(1);
  });

  it('writes the node once per phase: the next step\'s intent goes with the completed phase, and its pass does not call it resuming', async () => {
    const w = world();
    expect(await driveNode('w1', w.deps)).toMatchObject({ kind: 'settled', phase: 'Succeeded' });
    const writes = w.nodes.patches.filter((p) => p.name === 'w1');
    const stateWrites = writes.filter((p) => p.patch.annotations?.[ANNOTATIONS.phase] !== undefined || p.patch.annotations?.[ANNOTATIONS.intent] !== undefined);
    // The admission's intent, then one write per phase reached (Preflight ... Succeeded), 8, and
    // nothing else: the pass that takes an intent written ahead does not write the claim again.
    expect(stateWrites).toHaveLength(9);
    expect(writes).toHaveLength(9);
    expect(stateWrites.slice(1, -1).map((p) => p.patch.annotations?.[ANNOTATIONS.intent])).toEqual([
      'Cordoned', 'Drained', 'RuntimeConfigured', 'KubeletSwitched', 'Verified', 'Uncordoned', 'Succeeded',
    ]);
    const said = w.events.events.filter((e) => e.type === 'Normal' && e.reason.startsWith('Migration')).map((e) => e.message);
    expect(said).toContain('Cordoned -> Drained');
    expect(said.filter((m) => m.includes('resuming'))).toEqual([]);
  });

  it('leaves a node the admin had cordoned cordoned', async () => {
    const w = world({ w1: { unschedulable: true } });
    await driveNode('w1', w.deps);
    expect(w.nodes.nodes.get('w1')!.unschedulable).toBe(true);
    expect(state(w)[ANNOTATIONS.phase]).toBe('Succeeded');
    expect(state(w)[ANNOTATIONS.wasUnschedulable]).toBe('true');
  });

  it('adopts a node that already runs containerd without touching it', async () => {
    const w = world({ w1: { containerRuntimeVersion: 'containerd://1.7.2' } });
    await driveNode('w1', w.deps);
    expect(state(w)[ANNOTATIONS.phase]).toBe('Succeeded');
    expect(w.remote.commands).toEqual([]);
    expect(w.nodes.patches.some((p) => p.patch.unschedulable !== undefined)).toBe(false);
  });

  it('reads the host\'s facts once per stage that needs them fresh: the carry beside the drain takes Preflight\'s, the kubelet stage and the smoke pod the runtime stage\'s', async () => {
    const w = world();
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Succeeded' });
    const reads = () => w.remote.commands.filter((c) => c.command.includes('@@cri-migrator:')).length;
    // Preflight and the runtime stage; the carry during the drain takes Preflight's.
    expect(reads()).toBe(2);
    expect(w.smoke.runs).toEqual([{ node: 'w1', image: 'k8s.gcr.io/pause:3.6' }]);

    // Another process (a fresh engine) taking up the same run: the stage it resumes at reads afresh.
    const resumeAt = async (phase: 'RuntimeConfigured' | 'KubeletSwitched', intent: 'KubeletSwitched' | 'Verified') => {
      const crashed: MigrationState = { phase, intent, attempt: 0, wasUnschedulable: false, previousCriSocket: DOCKERSHIM_SOCKET, sourceRuntime: 'dockershim' };
      const annotations = Object.fromEntries(Object.entries(serializeState(crashed)).filter((e): e is [string, string] => e[1] !== null));
      const again = world({ w1: { unschedulable: true, annotations: { ...annotations, [KUBEADM_CRI_SOCKET_ANNOTATION]: DOCKERSHIM_SOCKET } } });
      if (phase === 'KubeletSwitched') again.nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'containerd://1.6.20' }));
      expect(await driveNode('w1', again.deps)).toMatchObject({ phase: 'Succeeded' });
      expect(again.smoke.runs).toEqual([{ node: 'w1', image: 'k8s.gcr.io/pause:3.6' }]);
      return again.remote.commands.filter((c) => c.command.includes('@@cri-migrator:')).length;
    };
    // The kubelet stage reads; verification takes its facts.
    expect(await resumeAt('RuntimeConfigured', 'KubeletSwitched')).toBe(1);
    // Verification reads for the smoke pod's image.
    expect(await resumeAt('KubeletSwitched', 'Verified')).toBe(1);
  });

  it('resumes after a crash between the intent and the action', async () => {
    const crashed: MigrationState = { phase: 'Drained', intent: 'RuntimeConfigured', attempt: 0, wasUnschedulable: false, previousCriSocket: DOCKERSHIM_SOCKET, sourceRuntime: 'dockershim' };
    const annotations = Object.fromEntries(Object.entries(serializeState(crashed)).filter((e): e is [string, string] => e[1] !== null));
    const w = world({ w1: { unschedulable: true, annotations: { ...annotations, [KUBEADM_CRI_SOCKET_ANNOTATION]: DOCKERSHIM_SOCKET } } });
    const first = await reconcileNode('w1', w.deps);
    expect(first).toMatchObject({ kind: 'progressed', action: 'configureRuntime', phase: 'RuntimeConfigured' });
    expect(w.events.events.find((e) => e.reason === 'MigrationRuntimeConfigured')?.message).toBe('Drained -> RuntimeConfigured (resuming)');
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Succeeded' });
    // Nothing before the crash point ran again.
    expect(w.evictor.evictions).toEqual([]);
    expect(w.nodes.nodes.get('w1')!.unschedulable).toBe(false);
  });

  it('waits for a node still starting (Docker activating after a power loss) instead of rolling it back', async () => {
    let booting = 2; // the first two fact probes find Docker activating
    const w = world({
      responders: [(cmd) => (cmd.includes('@@cri-migrator:') && booting-- > 0 ? { code: 0, stdout: factsOutput({ images: { dockerRunning: false, dockerState: 'activating', systemState: 'starting' } }), stderr: '' } : undefined)],
    });
    await expect(reconcileNode('w1', w.deps)).rejects.toBeInstanceOf(ActionFailedError);
    expect(state(w)[ANNOTATIONS.phase]).toBe('Pending'); // nothing changed, back in line
    expect(state(w)[ANNOTATIONS.attempt]).toBe('0'); // not counted
    expect(state(w)[ANNOTATIONS.blockedBy]).toMatch(/images-docker: Docker is not running yet: the node is still starting/);
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Succeeded' });
    expect(w.events.events.map((e) => e.reason)).not.toContain('MigrationRollingBack');
    expect(w.events.events.filter((e) => e.reason === 'MigrationBlocked')).toHaveLength(2);
  });

  it('retries a failed step with backoff and records the attempt', async () => {
    let failures = 2;
    const w = world({
      responders: [(cmd, o) => (o.mutates && cmd.includes('systemctl restart containerd.service') && failures-- > 0 ? { code: 1, stdout: '', stderr: 'Job for containerd.service failed' } : undefined)],
    });
    for (let i = 0; i < 3; i++) await reconcileNode('w1', w.deps); // preflight, cordon, drain
    await expect(reconcileNode('w1', w.deps)).rejects.toBeInstanceOf(ActionFailedError);
    expect(state(w)[ANNOTATIONS.attempt]).toBe('1');
    expect(state(w)[ANNOTATIONS.intent]).toBe('RuntimeConfigured');
    expect(state(w)[ANNOTATIONS.lastError]).toMatch(/restart-containerd failed .*Job for containerd.service failed/);
    expect(w.events.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'MigrationStepFailed' });
    const start = w.clock.now().getTime();
    // The second failure is backed off by retries.initialBackoffSeconds before the third attempt succeeds.
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Succeeded' });
    expect(w.clock.now().getTime() - start).toBeGreaterThanOrEqual(5_000);
  });
});

describe('engine: rollback', () => {
  it('rolls back when the node does not come back on containerd, and undoes only what it did', async () => {
    const w = world({ kubeletComesBack: 'never', config: loadConfig({ sets: ['verifyTimeoutSeconds=60'] }) });
    const result = await driveNode('w1', w.deps);
    expect(result).toMatchObject({ kind: 'settled', phase: 'RolledBack' });
    const node = w.nodes.nodes.get('w1')!;
    expect(node.unschedulable).toBe(false);
    expect(node.containerRuntimeVersion).toBe('docker://20.10.24');
    expect(node.annotations[KUBEADM_CRI_SOCKET_ANNOTATION]).toBe(DOCKERSHIM_SOCKET);
    expect(node.annotations[ANNOTATIONS.failedPhase]).toBe('Verified');
    expect(node.annotations[ANNOTATIONS.rollbackReason]).toMatch(/verify: verification failed: w1 not Ready with a containerd:\/\/ runtime/);
    expect(node.labels[MIGRATED_LABEL]).toBeUndefined();
    const undo = w.remote.commands.filter((c) => c.mutates).map((c) => c.command);
    expect(undo.some((c) => c.includes('for u in docker.service docker.socket; do') && c.includes('systemctl start "$u"'))).toBe(true);
    expect(w.events.events.find((e) => e.reason === 'MigrationRolledBack')).toMatchObject({ type: 'Warning' });
    // The smoke pod was created while the node was awaited, and given up with it (the node's error stands).
    expect(w.smoke.createdEarly).toEqual(['w1']);
    expect(w.smoke.runs).toEqual([]);
  });

  it('creates the smoke pod while the node comes back Ready: the two waits overlap', async () => {
    // The node turns Ready only once the smoke pod exists: verification must not wait for Ready first.
    const w = world({ kubeletComesBack: 'never' });
    w.smoke.onCreate = () => w.nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'containerd://1.6.20' }));
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Succeeded' });
    expect(w.smoke.createdEarly).toEqual(['w1']);
    expect(w.smoke.runs).toEqual([{ node: 'w1', image: 'k8s.gcr.io/pause:3.6' }]);
  });

  it('a smoke pod that does not run fails verification with its own error, after the node was Ready', async () => {
    const w = world();
    w.smoke.failWith = new Error('smoke pod cri-migrator/x not Running on w1 within 120s: ImagePullBackOff');
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'RolledBack' });
    expect(state(w)[ANNOTATIONS.rollbackReason]).toMatch(/verify: verification failed: smoke pod .* ImagePullBackOff/);
  });

  it('rolls back a refused drain without touching the host', async () => {
    const w = world();
    w.evictor.pods.push(makePod('bare', { controllers: [] }));
    const result = await driveNode('w1', w.deps);
    expect(result).toMatchObject({ phase: 'RolledBack' });
    expect(state(w)[ANNOTATIONS.rollbackReason]).toMatch(/default\/bare not managed by a controller/);
    expect(w.remote.commands.filter((c) => c.mutates)).toEqual([]);
    expect(w.nodes.nodes.get('w1')!.unschedulable).toBe(false);
    expect(w.evictor.evictions).toEqual([]);
  });

  it('stops in Failed, cordoned, with rollback: never', async () => {
    const w = world({ kubeletComesBack: 'never', config: loadConfig({ sets: ['rollback=never', 'verifyTimeoutSeconds=30'] }) });
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'Failed' });
    expect(w.nodes.nodes.get('w1')!.unschedulable).toBe(true);
    expect(w.events.events.at(-1)).toMatchObject({ reason: 'MigrationFailed' });
  });

  it('fails a preflight on a node without runc, before cordoning', async () => {
    const w = world({ responders: [(cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: factsOutput({ runc: '' }), stderr: '' } : undefined)] });
    expect(await driveNode('w1', w.deps)).toMatchObject({ phase: 'RolledBack' });
    expect(state(w)[ANNOTATIONS.rollbackReason]).toMatch(/preflight: checks failed: runc-on-path/);
    expect(w.nodes.patches.some((p) => p.patch.unschedulable === true)).toBe(false);
  });
});

describe('engine: admission and dry run', () => {
  it('admits one node at a time with concurrency 1', async () => {
    const w = world();
    w.nodes.nodes.set('w3', makeNode({ name: 'w3' }));
    const [a, b] = await Promise.all([reconcileNode('w1', w.deps), reconcileNode('w3', w.deps)]);
    expect([a.kind, b.kind].sort()).toEqual(['progressed', 'wait']);
  });

  it('plans the whole migration through recording ports without changing anything', async () => {
    const w = world();
    w.evictor.blockedFor.set('web-2', Infinity);
    const records: DryRunRecord[] = [];
    const deps = withDryRun(w.deps, { emit: (e) => void (e.type === 'recorded' && records.push(e.record)) });
    expect(await driveNode('w1', deps)).toMatchObject({ phase: 'Succeeded' });

    // Nothing real changed.
    expect(w.nodes.patches).toEqual([]);
    expect(w.remote.files.size).toBe(0);
    expect(w.remote.commands.filter((c) => c.mutates)).toEqual([]);
    expect(w.evictor.pods).toHaveLength(3);
    expect(w.evictor.evictions.every((e) => e.dryRun)).toBe(true);
    expect(w.events.events).toEqual([]);

    // The plan has what a human needs, in the order the engine did it: blockers, file diffs, commands, patches.
    expect(records).toContainEqual({ kind: 'evict', pod: 'default/web-2', outcome: expect.objectContaining({ kind: 'blocked', budget: 'web-2-pdb' }) });
    const writes = records.filter((r) => r.kind === 'write');
    expect(writes.map((r) => r.kind === 'write' && r.path)).toContain('/etc/containerd/config.toml');
    const config = writes.find((r) => r.kind === 'write' && r.path === '/etc/containerd/config.toml');
    expect(config).toMatchObject({ before: null, after: expect.stringContaining('sandbox_image = "k8s.gcr.io/pause:3.6"') });
    const index = (match: (r: DryRunRecord) => boolean) => records.findIndex(match);
    const cordon = index((r) => r.kind === 'patch' && r.patch.unschedulable === true);
    const evict = index((r) => r.kind === 'evict');
    const stopKubelet = index((r) => r.kind === 'exec' && r.command.includes('systemctl stop kubelet.service'));
    const waitReady = index((r) => r.kind === 'wait' && r.description === 'Ready with a containerd:// runtime');
    expect(cordon).toBeGreaterThanOrEqual(0);
    expect([cordon, evict, stopKubelet, waitReady]).toEqual([...[cordon, evict, stopKubelet, waitReady]].sort((a, b) => a - b));
    // The carry-over is shown once, in its stage: a plan starts nothing beside the drain.
    const carries = records.filter((r) => r.kind === 'exec' && r.command.includes('ctr -n k8s.io images import'));
    expect(carries).toHaveLength(3);
    expect(records.indexOf(carries[0]!)).toBeGreaterThan(records.findLastIndex((r) => r.kind === 'evict'));
  });
});
