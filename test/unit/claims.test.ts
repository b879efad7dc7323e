// Issue 8 (1): one actor per node. A claim on the node, taken and renewed by compare-and-swap with
// every state write, honoured by the CLI and the controller alike.
import { describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/commands.js';
import { loadConfig } from '../../src/config.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import { CLAIM_ANNOTATIONS, claimAnnotations, ClaimHeldError, claimVerdict, cliActor, controllerActor, type Actor } from '../../src/domain/claim.js';
import { driveNode } from '../../src/engine/drive.js';
import { HostUnreachableError } from '../../src/domain/errors.js';
import { reconcileNode } from '../../src/engine/executor.js';
import { cliWorld } from './cli-world.js';
import { makeNode, testActor, type FakeClock } from './fakes.js';

const now = new Date('2024-05-01T12:00:00Z');
const claimed = (holder: string, renewedSecondsAgo: number, lease = 60) => ({
  [CLAIM_ANNOTATIONS.holder]: holder,
  [CLAIM_ANNOTATIONS.since]: new Date(now.getTime() - 600_000).toISOString(),
  [CLAIM_ANNOTATIONS.renewedAt]: new Date(now.getTime() - renewedSecondsAgo * 1000).toISOString(),
  [CLAIM_ANNOTATIONS.leaseSeconds]: String(lease),
});

describe('claim verdicts', () => {
  const cli = (pid: number, force = false, alive = true): Actor => cliActor({ host: 'laptop', pid, force, leaseSeconds: 60, isAlive: () => alive });
  const ctrl = controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-b', leaseSeconds: 60 });
  it.each<[string, Record<string, string>, Actor, string]>([
    ['no claim', {}, cli(1), 'free'],
    ['our own', claimed('cli@laptop/1', 10), cli(1), 'ours'],
    ['another CLI, live', claimed('cli@laptop/2', 10), cli(1), 'held'],
    ['another CLI on this host, expired, its process alive: needs --force', claimed('cli@laptop/2', 61), cli(1), 'held'],
    ['another CLI on this host, expired, its process gone: ours to resume', claimed('cli@laptop/2', 61), cli(1, false, false), 'takeover'],
    ['another CLI on this host, killed a second ago (claim still live), its process gone', claimed('cli@laptop/2', 1), cli(1, false, false), 'takeover'],
    ['another host\'s CLI, expired, dead pid here means nothing', claimed('cli@other/2', 61), cli(1, false, false), 'held'],
    ['expired, with --force', claimed('cli@other/2', 61), cli(1, true), 'takeover'],
    ['live, even with --force', claimed('cli@other/2', 10), cli(1, true), 'held'],
    ['the controller, live, to a CLI', claimed('controller/cri-migrator/cri-migrator/pod-a', 5), cli(1, true), 'held'],
    ['the previous leader of the same controller', claimed('controller/cri-migrator/cri-migrator/pod-a', 5), ctrl, 'takeover'],
    ['another controller install, live', claimed('controller/other/cri-migrator/pod-a', 5), ctrl, 'held'],
    ['a CLI, expired, to the controller', claimed('cli@laptop/2', 61), ctrl, 'takeover'],
    ['a CLI, live, to the controller', claimed('cli@laptop/2', 59), ctrl, 'held'],
    ['an unreadable renew time counts as expired', { ...claimed('cli@laptop/2', 0), [CLAIM_ANNOTATIONS.renewedAt]: 'garbage' }, ctrl, 'takeover'],
  ])('%s', (_, annotations, actor, kind) => {
    expect(claimVerdict(annotations, actor, now).kind).toBe(kind);
  });
});

describe('one actor per node', () => {
  it('two actors started on one node at once: exactly one acts, each step runs once, the other is told who holds it', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const a = { ...w.engine, actor: testActor(101) };
    const b = { ...w.engine, actor: testActor(102) };
    const results = await Promise.allSettled([driveNode('w1', a), driveNode('w1', b)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ value: { phase: 'Succeeded' } });
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(ClaimHeldError);
    expect(String(refused[0]!.reason.message)).toMatch(/^w1 is held by cli@test\/10[12] \(since .*, renewed \d+s ago, lease 60s\)/);
    const mutations = w.remote.commands.filter((c) => c.mutates).map((c) => c.command.split('\n')[0]!);
    for (const step of ['systemctl stop kubelet.service', 'systemctl restart kubelet.service']) {
      expect(w.remote.commands.filter((c) => c.mutates && c.command.includes(step)), step).toHaveLength(1);
    }
    expect(mutations.length).toBeGreaterThan(5);
    // Released at the end: nobody holds a finished node.
    expect(w.nodes.nodes.get('w1')!.annotations[CLAIM_ANNOTATIONS.holder]).toBeUndefined();
  });

  it('the CLI refuses a node the controller holds, naming the holder and since when, and changes nothing', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const controller = { ...w.engine, actor: controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 60 }) };
    for (let i = 0; i < 2; i++) await reconcileNode('w1', controller); // the controller has it, mid-migration
    const before = structuredClone(w.nodes.nodes.get('w1'));
    const code = await migrateCommand(w.ctx, ['w1'], { retry: false });
    expect(code).toBe(1);
    expect(w.stderr.join('')).toMatch(/error: w1 is held by controller\/cri-migrator\/cri-migrator\/pod-a \(since 2024-05-01T12:00:00.000Z, renewed 0s ago, lease 60s\): wait until it finishes/);
    expect(w.nodes.nodes.get('w1')).toEqual(before);
  });

  it('two `migrate`s of one unlabelled node at once: the one whose claim lands second is told who holds it, not that the node changed', async () => {
    const w = cliWorld({ w1: { labels: {} }, config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const second: string[] = [];
    const other = { ...w.ctx, engine: { ...w.engine, actor: testActor(102) }, stderr: (t: string) => void second.push(t) };
    const codes = await Promise.all([migrateCommand(w.ctx, ['w1'], { retry: false }), migrateCommand(other, ['w1'], { retry: false })]);
    expect([...codes].sort()).toEqual([0, 1]);
    const [loser, winner] = codes[0] === 1 ? [w.stderr.join(''), 'cli@test/102'] : [second.join(''), w.engine.actor.identity];
    expect(loser).toMatch(new RegExp(`^error: w1 is held by ${winner} \\(since .*\\): wait until it finishes`));
    expect(loser).not.toMatch(/changed/);
  });

  it('the CLI labels and claims in one write, so the controller watching that label leaves the node alone', async () => {
    const w = cliWorld({ w1: { labels: {} }, config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const controller = { ...w.engine, actor: controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 60 }) };
    const seen: string[] = [];
    const patch = w.nodes.patch.bind(w.nodes);
    let raced = false;
    w.nodes.patch = async (name, p, o) => {
      const out = await patch(name, p, o);
      // The controller's watch fires on the label: it reconciles right after the CLI's first write.
      if (!raced && p.labels?.['cri-migrator.dev/migrate']) {
        raced = true;
        seen.push(await reconcileNode('w1', controller).then((r) => r.kind, (e: unknown) => (e as Error).name));
      }
      return out;
    };
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
    expect(seen).toEqual(['ClaimHeldError']);
  });

  it('--force takes over only an expired claim; a killed CLI on the same host is resumed without it', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    const gone = { ...w.engine, actor: testActor(7) };
    for (let i = 0; i < 3; i++) await reconcileNode('w1', gone); // then it is killed
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('Drained');
    const other = { ...w.engine, actor: testActor(8) };
    await expect(reconcileNode('w1', other)).rejects.toThrow(/held by cli@test\/7 .*renewed 0s ago/);
    await clock.sleep(61_000);
    await expect(reconcileNode('w1', other)).rejects.toThrow(/held by cli@test\/7 .*expired at .*take it over with --force/);
    const forced = { ...w.engine, actor: testActor(8, { force: true }) };
    expect(await driveNode('w1', forced)).toMatchObject({ phase: 'Succeeded' });

    // A CLI of this host whose process is gone: resumed at once.
    const w2 = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const killed = { ...w2.engine, actor: cliActor({ host: 'h', pid: 1, force: false, leaseSeconds: 60, isAlive: () => true }) };
    for (let i = 0; i < 3; i++) await reconcileNode('w1', killed);
    await (w2.engine.clock as FakeClock).sleep(61_000);
    const rerun = { ...w2.engine, actor: cliActor({ host: 'h', pid: 2, force: false, leaseSeconds: 60, isAlive: (pid) => pid !== 1 }) };
    expect(await driveNode('w1', rerun)).toMatchObject({ phase: 'Succeeded' });
  });

  it('renews the claim while a long step runs, and stops the step when another actor takes the node', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1', 'claims.leaseSeconds=30', 'drain.timeoutSeconds=600'] }) });
    const clock = w.engine.clock as FakeClock;
    w.evictor.blockedFor.set('web-2', Infinity);
    const a = { ...w.engine, actor: testActor(1, { leaseSeconds: 30 }) };
    const renewals: string[] = [];
    const patch = w.nodes.patch.bind(w.nodes);
    w.nodes.patch = async (name, p, o) => {
      const renewed = p.annotations?.[CLAIM_ANNOTATIONS.renewedAt];
      if (renewed && Object.keys(p.annotations!).length === 1) renewals.push(renewed);
      return patch(name, p, o);
    };
    const running = driveNode('w1', a).catch((e: unknown) => e);
    // Let it drain (blocked) for a while: the claim is renewed every 10 s.
    while (renewals.length < 6) await clock.sleep(1_000);
    // A human forces another actor in (e.g. the claim edited by hand to another holder).
    w.nodes.update('w1', (n) => ({ ...n, annotations: { ...n.annotations, [CLAIM_ANNOTATIONS.holder]: 'cli@elsewhere/9', [CLAIM_ANNOTATIONS.renewedAt]: clock.now().toISOString() } }));
    const outcome = await running;
    expect(outcome).toBeInstanceOf(ClaimHeldError);
    // The step stopped without recording a failure of its own on a node it no longer holds.
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.attempt]).toBe('0');
    expect(w.nodes.nodes.get('w1')!.annotations[CLAIM_ANNOTATIONS.holder]).toBe('cli@elsewhere/9');
  });

  it('counts nodes other actors hold against concurrency', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    w.nodes.nodes.set('w3', makeNode({ name: 'w3', annotations: claimed('controller/cri-migrator/cri-migrator/pod-a', 0) }));
    // The claim on w3 was renewed at `now`; the fake clock starts there too.
    expect(clock.now().toISOString()).toBe(now.toISOString());
    const pass = await reconcileNode('w1', w.engine);
    expect(pass).toMatchObject({ kind: 'wait', reason: 'concurrency 1 reached (migrating: w3)' });
  });

  it('two nodes claimed by two CLIs before either started, one slot: the older claim starts, the younger waits for it (never each for the other)', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=1'] }) });
    const clock = w.engine.clock as FakeClock;
    const older = testActor(101);
    const younger = testActor(102);
    const label = { 'cri-migrator.dev/migrate': 'containerd' };
    w.nodes.update('w2', (n) => ({ ...n, labels: label, annotations: claimAnnotations(older, new Date(clock.now().getTime() - 1_000)) }));
    w.nodes.update('w1', (n) => ({ ...n, labels: label, annotations: { ...n.annotations, ...claimAnnotations(younger, clock.now()) } }));
    expect(await reconcileNode('w1', { ...w.engine, actor: younger })).toMatchObject({ kind: 'wait', reason: 'concurrency 1 reached (migrating: w2)' });
    expect(await reconcileNode('w2', { ...w.engine, actor: older })).toMatchObject({ kind: 'progressed', action: 'preflight' });
    // Claimed at the same instant, neither started: the name decides, the same way for both.
    w.nodes.update('w2', (n) => ({ ...n, annotations: claimAnnotations(older, clock.now()) }));
    w.nodes.update('w1', (n) => ({ ...n, annotations: claimAnnotations(younger, clock.now()) }));
    expect(await reconcileNode('w2', { ...w.engine, actor: older })).toMatchObject({ kind: 'wait', reason: 'concurrency 1 reached (migrating: w1)' });
  });
});

describe('a CLI waiting keeps its node', () => {
  it('a `migrate` whose preflight finds sshd down keeps the node through the backoff: the controller watching the label does not take it', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=0'] }) });
    const actor = testActor(101);
    const clock = w.engine.clock as FakeClock;
    let refused = 2; // sshd refuses the first two connections
    const connect: typeof w.engine.connect = async (...args) => {
      if (refused-- > 0) throw new HostUnreachableError('connect ECONNREFUSED 10.0.0.2:22');
      return w.engine.connect(...args);
    };
    w.nodes.update('w1', (n) => ({ ...n, labels: { ...n.labels, 'cri-migrator.dev/migrate': 'containerd' }, annotations: { ...n.annotations, ...claimAnnotations(actor, clock.now()) } }));
    const running = driveNode('w1', { ...w.engine, actor, connect });
    const ctrl = controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 60 });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      await clock.sleep(2_000);
      seen.push(`${claimVerdict(w.nodes.nodes.get('w1')!.annotations, ctrl, clock.now()).kind}/${w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.blockedBy] ? 'blocked' : '-'}`);
    }
    expect(seen.some((s) => s === 'held/blocked')).toBe(true); // it was blocked, and held all the while
    expect(seen.filter((s) => !s.startsWith('held'))).toEqual([]);
    expect(await running).toMatchObject({ phase: 'Succeeded' });
  });

  it('while `migrate` waits for a slot its claim is renewed, so the controller never finds it expired and takes the node', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['minReadyNodes=0'] }) });
    const actor = testActor(101);
    const clock = w.engine.clock as FakeClock;
    w.nodes.update('w1', (n) => ({ ...n, annotations: { ...n.annotations, ...claimAnnotations(actor, clock.now()) } }));
    // w2 is in flight under the controller for a while: concurrency 1 is reached.
    const ctrl = controllerActor({ lease: 'cri-migrator/cri-migrator', pod: 'pod-a', leaseSeconds: 3600 });
    w.nodes.update('w2', (n) => ({ ...n, labels: { 'cri-migrator.dev/migrate': 'containerd' }, annotations: claimAnnotations(ctrl, new Date(clock.now().getTime() - 1_000)) }));
    const running = driveNode('w1', { ...w.engine, actor });
    const started = clock.now().getTime();
    const seen: string[] = [];
    while (clock.now().getTime() - started < 300_000) {
      await clock.sleep(10_000);
      const verdict = claimVerdict(w.nodes.nodes.get('w1')!.annotations, ctrl, clock.now());
      seen.push(verdict.kind);
    }
    expect(new Set(seen)).toEqual(new Set(['held'])); // five minutes of waiting, never expired to the controller
    w.nodes.update('w2', (n) => ({ ...n, annotations: {} })); // the controller is done with w2
    expect(await running).toMatchObject({ phase: 'Succeeded' });
  });
});
