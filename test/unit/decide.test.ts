import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { ANNOTATIONS, parseState, serializeState } from '../../src/domain/annotations.js';
import type { MigrationState, NodeView, Phase } from '../../src/domain/types.js';
import { completedState, decide, isMigrating, type ClusterView, type Decision } from '../../src/engine/decide.js';
import type { RolloutView } from '../../src/engine/rollout.js';

const now = new Date('2024-05-01T12:00:00Z');
const config = loadConfig({});

function node(state: Partial<MigrationState> | null, overrides: Partial<NodeView> = {}): NodeView {
  const annotations = state
    ? Object.fromEntries(Object.entries(serializeState({ phase: 'Pending', attempt: 0, ...state })).filter((e): e is [string, string] => e[1] !== null))
    : {};
  return {
    name: 'w1',
    labels: { 'cri-migrator.dev/migrate': 'containerd' },
    annotations,
    unschedulable: false,
    ready: true,
    containerRuntimeVersion: 'docker://20.10.24',
    kubeletVersion: 'v1.23.17',
    addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
    resourceVersion: '1',
    ...overrides,
  };
}
const quiet: RolloutView = { halts: [], paused: undefined, blockingPods: [], migrated: [] };
const roomy: ClusterView = { readyOtherNodes: 3, inFlightOtherNodes: [], rollout: quiet, by: 'controller' };

function run(n: NodeView, cluster: ClusterView = roomy, cfg: Config = config): Decision {
  return decide({ node: n, state: parseState(n.annotations), cluster }, cfg, now);
}
function summary(d: Decision): string {
  return d.kind === 'act' ? `act ${d.action} -> ${d.target}` : d.kind;
}

describe('decide: forward path with the observed node', () => {
  const cordoned = { unschedulable: true };
  it.each<[string, Partial<MigrationState> | null, Partial<NodeView>, string]>([
    // Pending: admission
    ['Pending, labelled, Ready, room', null, {}, 'act preflight -> Preflight'],
    ['Pending, not labelled', null, { labels: {} }, 'none'],
    ['Pending, already containerd', null, { containerRuntimeVersion: 'containerd://1.6.20' }, 'act adopt -> Succeeded'],
    ['Pending, unknown runtime', null, { containerRuntimeVersion: 'cri-o://1.25.0' }, 'none'],
    ['Pending, control-plane', null, { labels: { 'cri-migrator.dev/migrate': 'containerd', 'node-role.kubernetes.io/control-plane': '' } }, 'none'],
    ['Pending, old master label', null, { labels: { 'cri-migrator.dev/migrate': 'containerd', 'node-role.kubernetes.io/master': '' } }, 'none'],
    ['Pending, NotReady', null, { ready: false }, 'wait'],
    ['Pending, cordoned by the admin (still migrated)', null, cordoned, 'act preflight -> Preflight'],
    // Forward phases, cordon held
    ['Preflight done', { phase: 'Preflight' }, {}, 'act cordon -> Cordoned'],
    ['Cordoned', { phase: 'Cordoned' }, cordoned, 'act drain -> Drained'],
    ['Drained', { phase: 'Drained' }, cordoned, 'act configureRuntime -> RuntimeConfigured'],
    ['RuntimeConfigured', { phase: 'RuntimeConfigured' }, { ...cordoned, ready: false }, 'act switchKubelet -> KubeletSwitched'],
    ['KubeletSwitched', { phase: 'KubeletSwitched' }, { ...cordoned, ready: false }, 'act verify -> Verified'],
    ['Verified', { phase: 'Verified' }, { ...cordoned, containerRuntimeVersion: 'containerd://1.6.20' }, 'act uncordon -> Uncordoned'],
    ['Uncordoned', { phase: 'Uncordoned' }, { containerRuntimeVersion: 'containerd://1.6.20' }, 'act finish -> Succeeded'],
    // Someone uncordoned mid-migration
    ['Cordoned but uncordoned by someone', { phase: 'Cordoned' }, {}, 'act cordon -> Cordoned'],
    ['Drained but uncordoned by someone', { phase: 'Drained' }, {}, 'act cordon -> Drained'],
    ['Verified but uncordoned by someone', { phase: 'Verified' }, {}, 'act cordon -> Verified'],
    // Resume after a crash: the intent is there, the action runs again
    ['crash during preflight', { phase: 'Pending', intent: 'Preflight' }, {}, 'act preflight -> Preflight'],
    ['crash during drain', { phase: 'Cordoned', intent: 'Drained' }, cordoned, 'act drain -> Drained'],
    ['crash during runtime config', { phase: 'Drained', intent: 'RuntimeConfigured', attempt: 1 }, cordoned, 'act configureRuntime -> RuntimeConfigured'],
    ['crash during kubelet switch (node NotReady)', { phase: 'RuntimeConfigured', intent: 'KubeletSwitched' }, { ...cordoned, ready: false }, 'act switchKubelet -> KubeletSwitched'],
    // Retries exhausted
    ['drain failed 3 times', { phase: 'Cordoned', intent: 'Drained', attempt: 3 }, cordoned, 'act beginRollback -> RollingBack'],
    ['runtime config failed 3 times', { phase: 'Drained', intent: 'RuntimeConfigured', attempt: 3 }, cordoned, 'act beginRollback -> RollingBack'],
    ['verify failed (terminal)', { phase: 'KubeletSwitched', intent: 'Verified', attempt: 3 }, cordoned, 'act beginRollback -> RollingBack'],
    ['uncordon failed 3 times: no rollback of a verified node', { phase: 'Verified', intent: 'Uncordoned', attempt: 3 }, cordoned, 'act fail -> Failed'],
    ['finish failed 3 times', { phase: 'Uncordoned', intent: 'Succeeded', attempt: 3 }, {}, 'act fail -> Failed'],
    // Rolling back
    ['RollingBack', { phase: 'RollingBack', failedPhase: 'Verified' }, cordoned, 'act rollback -> RolledBack'],
    ['RollingBack, crash mid-rollback', { phase: 'RollingBack', intent: 'RolledBack', attempt: 1 }, cordoned, 'act rollback -> RolledBack'],
    ['RollingBack failed 3 times', { phase: 'RollingBack', intent: 'RolledBack', attempt: 3 }, cordoned, 'act fail -> Failed'],
    // Terminal
    ['Succeeded', { phase: 'Succeeded' }, { containerRuntimeVersion: 'containerd://1.6.20' }, 'none'],
    ['Succeeded, label removed', { phase: 'Succeeded' }, { labels: {} }, 'none'],
    ['RolledBack', { phase: 'RolledBack', rollbackReason: 'x' }, {}, 'none'],
    ['Failed', { phase: 'Failed' }, cordoned, 'none'],
    // Started migrations finish even if the label is removed
    ['Drained, label removed', { phase: 'Drained' }, { ...cordoned, labels: {} }, 'act configureRuntime -> RuntimeConfigured'],
    // Inconsistent state
    ['intent two phases ahead', { phase: 'Cordoned', intent: 'Verified' }, cordoned, 'none'],
  ])('%s', (_, state, overrides, expected) => {
    expect(summary(run(node(state, overrides)))).toBe(expected);
  });

  it('never rolls back with rollback: never', () => {
    const cfg = loadConfig({ sets: ['rollback=never'] });
    expect(summary(run(node({ phase: 'Drained', intent: 'RuntimeConfigured', attempt: 3 }, { unschedulable: true }), roomy, cfg))).toBe('act fail -> Failed');
  });

  it('honours retries.maxAttempts', () => {
    const cfg = loadConfig({ sets: ['retries.maxAttempts=5'] });
    expect(summary(run(node({ phase: 'Cordoned', intent: 'Drained', attempt: 4 }, { unschedulable: true }), roomy, cfg))).toBe('act drain -> Drained');
    expect(summary(run(node({ phase: 'Cordoned', intent: 'Drained', attempt: 5 }, { unschedulable: true }), roomy, cfg))).toBe('act beginRollback -> RollingBack');
  });

  it('flags states that need a human as warnings', () => {
    const bad = node(null, {});
    const d = decide({ node: bad, state: parseState({ [ANNOTATIONS.phase]: 'Bogus' }) }, config, now);
    expect(d).toMatchObject({ kind: 'none', warning: true });
    expect(run(node({ phase: 'Failed', rollbackReason: 'boom' }))).toMatchObject({ kind: 'none', warning: true, reason: expect.stringContaining('boom') });
    expect(run(node({ phase: 'Succeeded' }))).toMatchObject({ kind: 'none' });
    expect(run(node({ phase: 'Succeeded' })).kind === 'none' && (run(node({ phase: 'Succeeded' })) as { warning?: boolean }).warning).toBeFalsy();
  });

  it('allows control-plane nodes when configured', () => {
    const cfg = loadConfig({ sets: ['allowControlPlane=true'] });
    const cp = node(null, { labels: { 'cri-migrator.dev/migrate': 'containerd', 'node-role.kubernetes.io/control-plane': '' } });
    const etcd = (n: string, ready = true) => ({ node: n, component: 'etcd', name: `etcd-${n}`, ready, runtime: 'docker' });
    const withCp = (pods: ReturnType<typeof etcd>[], inFlight: string[] = [], nodes = ['w1', 'cp2', 'cp3']): ClusterView => ({ ...roomy, controlPlane: { nodes, staticPods: pods, inFlight } });
    const three = [etcd('w1'), etcd('cp2'), etcd('cp3')];
    const d = run(cp, withCp(three), cfg);
    expect(summary(d)).toBe('act preflight -> Preflight');
    expect(d.kind === 'act' && d.notes).toEqual(['etcd: 3 members, all others Ready; quorum 2 holds with w1 down (2 left)', 'static pods to bring back on the new runtime: etcd']);
  });
});

describe('decide: control-plane nodes', () => {
  const cfg = loadConfig({ sets: ['allowControlPlane=true'] });
  const cp = node(null, { labels: { 'cri-migrator.dev/migrate': 'containerd', 'node-role.kubernetes.io/control-plane': '' } });
  const etcd = (n: string, ready = true) => ({ node: n, component: 'etcd', name: `etcd-${n}`, ready, runtime: 'docker' });
  const view = (pods: ReturnType<typeof etcd>[], o: { inFlight?: string[]; nodes?: string[]; by?: 'controller' | 'cli' } = {}): ClusterView => ({
    ...roomy,
    by: o.by ?? 'controller',
    controlPlane: { nodes: o.nodes ?? pods.map((p) => p.node), staticPods: pods, inFlight: o.inFlight ?? [] },
  });
  it.each<[string, ClusterView, string, RegExp]>([
    ['another control-plane node in flight: one at a time, whatever concurrency says', view([etcd('w1'), etcd('cp2'), etcd('cp3')], { inFlight: ['cp2'] }), 'wait', /one control-plane node at a time: cp2 is migrating/],
    ['another etcd member not Ready', view([etcd('w1'), etcd('cp2', false), etcd('cp3')]), 'wait', /etcd member\(s\) on cp2 not Ready/],
    ['two members: quorum 2 would be lost', view([etcd('w1'), etcd('cp2')]), 'none', /etcd would lose quorum with w1 down: 2 members, quorum 2, only 1 other/],
    ['five members, two others down', view([etcd('w1'), etcd('a'), etcd('b'), etcd('c', false), etcd('d', false)]), 'wait', /not Ready/],
    ['a single control plane, by the controller: refused, use the CLI', view([etcd('w1')]), 'none', /only control-plane node.*cri-migrator migrate w1/],
    ['a single control plane, by the CLI: goes, saying the API will be down', view([etcd('w1')], { by: 'cli' }), 'act preflight -> Preflight', /Pending/],
  ])('%s', (_, cluster, expected, reason) => {
    const d = run(cp, cluster, cfg);
    expect(summary(d)).toBe(expected);
    if (d.kind !== 'act') expect(d.reason).toMatch(reason);
  });

  it('quorum arithmetic', async () => {
    const { quorumOf } = await import('../../src/engine/control-plane.js');
    expect([1, 2, 3, 4, 5, 7].map(quorumOf)).toEqual([1, 2, 2, 3, 3, 4]);
  });
});

describe('decide: cluster-wide limits on admission', () => {
  it.each<[string, ClusterView, number, number, string, RegExp]>([
    ['concurrency reached', { readyOtherNodes: 5, inFlightOtherNodes: ['w2'], rollout: quiet, by: 'controller' }, 1, 1, 'wait', /concurrency 1 reached \(migrating: w2\)/],
    ['concurrency 2 leaves room', { readyOtherNodes: 5, inFlightOtherNodes: ['w2'], rollout: quiet, by: 'controller' }, 2, 1, 'act preflight -> Preflight', /Pending/],
    ['too few Ready nodes would remain', { readyOtherNodes: 1, inFlightOtherNodes: [], rollout: quiet, by: 'controller' }, 1, 2, 'wait', /only 1 other nodes are Ready, minReadyNodes is 2/],
    ['exactly enough Ready nodes', { readyOtherNodes: 2, inFlightOtherNodes: [], rollout: quiet, by: 'controller' }, 1, 2, 'act preflight -> Preflight', /Pending/],
    ['minReadyNodes 0 on a one-node cluster', { readyOtherNodes: 0, inFlightOtherNodes: [], rollout: quiet, by: 'controller' }, 1, 0, 'act preflight -> Preflight', /Pending/],
  ])('%s', (_, cluster, concurrency, minReadyNodes, expected, reason) => {
    const cfg = loadConfig({ file: { path: 'c.yaml', data: { concurrency, minReadyNodes } } });
    const d = run(node(null), cluster, cfg);
    expect(summary(d)).toBe(expected);
    expect(d.kind === 'none' ? '' : d.reason).toMatch(reason);
  });

  it('needs the cluster view only to admit', () => {
    const pending = node(null);
    expect(() => decide({ node: pending, state: parseState(pending.annotations) }, config, now)).toThrow(/cluster view/);
    const cordoned = node({ phase: 'Cordoned' }, { unschedulable: true });
    expect(summary(decide({ node: cordoned, state: parseState(cordoned.annotations) }, config, now))).toBe('act drain -> Drained');
  });
});

describe('state helpers', () => {
  it.each<[Partial<MigrationState>, boolean]>([
    [{ phase: 'Pending' }, false],
    [{ phase: 'Pending', intent: 'Preflight' }, true],
    [{ phase: 'Drained' }, true],
    [{ phase: 'RollingBack' }, true],
    [{ phase: 'Succeeded' }, false],
    [{ phase: 'RolledBack' }, false],
    [{ phase: 'Failed' }, false],
  ])('isMigrating(%j) = %s', (state, expected) => {
    expect(isMigrating({ attempt: 0, phase: 'Pending', ...state })).toBe(expected);
  });

  it('completion clears intent, error and blockers and stamps terminal phases', () => {
    const done = completedState({ phase: 'Uncordoned', intent: 'Succeeded', attempt: 2, lastError: 'x', blockedBy: 'y' }, 'Succeeded' as Phase, now);
    expect(done).toEqual({ phase: 'Succeeded', attempt: 0, finishedAt: now });
    expect(completedState({ phase: 'Cordoned', intent: 'Drained', attempt: 0 }, 'Drained', now).finishedAt).toBeUndefined();
  });
});
