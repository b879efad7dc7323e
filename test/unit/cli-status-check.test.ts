import { describe, expect, it } from 'vitest';
import { checkCluster, renderCheck, workloadOwner } from '../../src/cli/check.js';
import { checkCommand } from '../../src/cli/commands.js';
import { cliWorld } from './cli-world.js';
import { renderStatus, statusRows } from '../../src/cli/status.js';
import { formatAge, oneLine, renderTable } from '../../src/cli/table.js';
import { ANNOTATIONS, MIGRATED_LABEL } from '../../src/domain/annotations.js';
import { CLAIM_ANNOTATIONS } from '../../src/domain/claim.js';
import type { PodHostPaths } from '../../src/ports.js';
import { makeNode } from './fakes.js';

const SELECTOR = 'cri-migrator.dev/migrate=containerd';
const NOW = new Date('2024-05-01T12:00:00Z');

describe('cli: tables', () => {
  it.each([
    [0, '0s'],
    [59_000, '59s'],
    [119_000, '119s'],
    [125_000, '2m5s'],
    [3_600_000, '1h'],
    [3_600_000 + 20 * 60_000, '1h20m'],
    [3 * 86_400_000, '3d'],
  ])('age of %d ms is %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it('pads columns like kubectl and trims trailing space', () => {
    expect(renderTable(['NAME', 'PHASE'], [['w1', 'Succeeded'], ['worker-long', '']])).toBe('NAME          PHASE\nw1            Succeeded\nworker-long\n');
  });

  it('flattens and cuts long text', () => {
    expect(oneLine('a\n  b\tc', 80)).toBe('a b c');
    expect(oneLine('x'.repeat(100), 10)).toBe('xxxxxxx...');
  });
});

describe('cli: status', () => {
  const nodes = [
    makeNode({ name: 'cp', labels: {}, containerRuntimeVersion: 'containerd://1.7.24' }),
    makeNode({ name: 'w2', annotations: {} }),
    makeNode({
      name: 'w1',
      containerRuntimeVersion: 'containerd://1.6.20',
      labels: { 'cri-migrator.dev/migrate': 'containerd', [MIGRATED_LABEL]: 'containerd' },
      annotations: { [ANNOTATIONS.phase]: 'Succeeded', [ANNOTATIONS.startedAt]: '2024-05-01T11:59:13.000Z', [ANNOTATIONS.finishedAt]: '2024-05-01T12:00:00.000Z' },
    }),
    makeNode({
      name: 'w3',
      labels: {}, // unlabelled mid-migration: still shown
      annotations: { [ANNOTATIONS.phase]: 'Cordoned', [ANNOTATIONS.intent]: 'Drained', [ANNOTATIONS.startedAt]: '2024-05-01T11:55:00.000Z', [ANNOTATIONS.blockedBy]: 'default/web-1 (PodDisruptionBudget web): Cannot evict pod' },
    }),
    makeNode({ name: 'w4', annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.rollbackReason]: `verify: ${'x'.repeat(200)}` } }),
    makeNode({ name: 'w5', annotations: { [ANNOTATIONS.phase]: 'Nonsense' } }),
  ];

  it('lists selected nodes and nodes with state, sorted, with phase, runtime, age and last error', () => {
    const rows = statusRows(nodes, SELECTOR, NOW);
    expect(rows.map((r) => [r.name, r.phase, r.age])).toEqual([
      ['w1', 'Succeeded', '47s'],
      ['w2', 'Pending', ''],
      ['w3', 'Cordoned -> Drained', '5m'],
      ['w4', 'RolledBack', ''],
      ['w5', 'Unreadable', ''],
    ]);
    expect(rows.find((r) => r.name === 'w3')?.lastError).toMatch(/^drain blocked: default\/web-1 \(PodDisruptionBudget web\)/);
    expect(rows.find((r) => r.name === 'w5')?.lastError).toMatch(/is not one of/);
  });

  const open = { open: true, reason: null, message: 'open: new nodes start as concurrency and minReadyNodes allow', inFlight: ['w3'], concurrency: 1 };

  it('renders the rollout line and the table with holders and truncated errors', () => {
    const text = renderStatus({ rollout: open, nodes: statusRows(nodes, SELECTOR, NOW) }, SELECTOR);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('Rollout: open: new nodes start as concurrency and minReadyNodes allow');
    expect(lines[1]).toBe('In flight: w3 (concurrency 1)');
    expect(lines[3]).toMatch(/^NAME\s+PHASE\s+RUNTIME\s+AGE\s+HOLDER\s+LAST ERROR$/);
    expect(lines[4]).toMatch(/^w1\s+Succeeded\s+containerd:\/\/1\.6\.20\s+47s\s+-\s+-$/);
    expect(lines[5]).toMatch(/^w2\s+Pending\s+docker:\/\/20\.10\.24\s+-\s+-\s+-$/);
    const w4 = lines.find((l) => l.startsWith('w4'))!;
    expect(w4).toContain('verify: xxx');
    expect(w4.endsWith('...')).toBe(true);
    expect(w4.length).toBeLessThan(200);
  });

  it('shows who holds a node and since when, and which node halts the rollout', () => {
    const held = makeNode({
      name: 'w6',
      annotations: {
        [ANNOTATIONS.phase]: 'Drained',
        [CLAIM_ANNOTATIONS.holder]: 'controller/cri-migrator/cri-migrator/pod-a',
        [CLAIM_ANNOTATIONS.since]: '2024-05-01T11:50:00.000Z',
        [CLAIM_ANNOTATIONS.renewedAt]: '2024-05-01T11:59:50.000Z',
        [CLAIM_ANNOTATIONS.leaseSeconds]: '60',
      },
    });
    const halted = makeNode({ name: 'w7', annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.halt]: 'ended RolledBack at ...: verify failed' } });
    const rows = statusRows([held, halted], SELECTOR, NOW);
    expect(rows[0]!.holder).toBe('controller/cri-migrator/cri-migrator/pod-a (since 2024-05-01T11:50:00.000Z, renewed 10s ago, lease 60s)');
    const text = renderStatus({ rollout: { ...open, open: false, reason: 'halted', message: 'rollout halted: w7 ended RolledBack ...' }, nodes: rows }, SELECTOR);
    expect(text).toMatch(/^Rollout: rollout halted: w7 ended RolledBack/);
    expect(text).toMatch(/w7\s+RolledBack \(halts rollout\)/);
  });

  it('escapes control characters that came from the cluster', () => {
    const evil = makeNode({ name: 'w8', annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.rollbackReason]: 'bad\u001b[31mred\u0007' } });
    const text = renderStatus({ rollout: open, nodes: statusRows([evil], SELECTOR, NOW) }, SELECTOR);
    expect(text).toContain('bad\\x1b[31mred\\x07');
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  });

  it('says how to start when no node is selected', () => {
    expect(renderStatus({ rollout: open, nodes: [] }, SELECTOR)).toContain('kubectl label node NODE cri-migrator.dev/migrate=containerd');
  });
});

describe('cli: check', () => {
  const pod = (name: string, hostPaths: { volume: string; path: string }[], extra: Partial<PodHostPaths> = {}): PodHostPaths => ({
    namespace: 'default',
    name,
    nodeName: 'w1',
    labels: {},
    hostPaths,
    ...extra,
  });

  it('finds Docker nodes and every pod mounting a Docker socket (or its directory)', () => {
    const report = checkCluster(
      [
        makeNode({ name: 'w2', containerRuntimeVersion: 'docker://24.0.7', kubeletVersion: 'v1.32.2' }),
        makeNode({ name: 'w1', containerRuntimeVersion: 'docker://20.10.24' }),
        makeNode({ name: 'cp', containerRuntimeVersion: 'containerd://1.7.24' }),
      ],
      [
        pod('dind-abc', [{ volume: 'sock', path: '/var/run/docker.sock' }], {
          owner: { kind: 'ReplicaSet', name: 'builder-7d9f8' },
          labels: { 'pod-template-hash': '7d9f8' },
        }),
        pod('agent-x', [{ volume: 'run', path: '/run/' }, { volume: 'logs', path: '/var/log' }], { namespace: 'monitoring', owner: { kind: 'DaemonSet', name: 'agent' } }),
        pod('shim', [{ volume: 's', path: '/var/run/dockershim.sock' }]),
        pod('cri', [{ volume: 's', path: '/var/run/cri-dockerd.sock' }], { owner: { kind: 'Job', name: 'j' } }),
        pod('fine', [{ volume: 'logs', path: '/var/log' }, { volume: 'c', path: '/run/containerd/containerd.sock' }]),
        pod('almost', [{ volume: 'x', path: '/var/run/docker.sock.d' }]),
      ],
    );
    expect(report.dockerNodes.map((n) => n.name)).toEqual(['w1', 'w2']);
    expect(report.socketUsers.map((u) => [u.namespace, u.pod, u.owner, u.path])).toEqual([
      ['default', 'cri', 'Job/j', '/var/run/cri-dockerd.sock'],
      ['default', 'dind-abc', 'Deployment/builder', '/var/run/docker.sock'],
      ['default', 'shim', 'none', '/var/run/dockershim.sock'],
      ['monitoring', 'agent-x', 'DaemonSet/agent', '/run'],
    ]);
    const text = renderCheck(report);
    expect(text).toContain('Nodes still on Docker (2):');
    expect(text).toMatch(/dind-abc\s+Deployment\/builder\s+w1\s+\/var\/run\/docker\.sock/);
  });

  it('reports a clean cluster', () => {
    const text = renderCheck(checkCluster([makeNode({ containerRuntimeVersion: 'containerd://1.7.24' })], []));
    expect(text).toBe(
      "No node runs Docker (docker://).\n\nNo workload's pod template mounts a Docker socket, Docker's data or its log files.\n\nNo running pod mounts a Docker socket, Docker's data or its log files.\n",
    );
  });

  it('finds workloads whose pod template depends on Docker, each kind and each path, with what breaks', () => {
    const w = (kind: string, name: string, path: string) => ({ kind, namespace: 'ops', name, hostPaths: [{ volume: 'v', path }] });
    const report = checkCluster([], [], [
      w('CronJob', 'image-gc', '/var/run/docker.sock'),
      w('DaemonSet', 'fluent-bit', '/var/lib/docker/containers'),
      w('Deployment', 'builder', '/run/docker.sock'),
      w('StatefulSet', 'ci', '/var/lib/docker'),
      w('ReplicaSet', 'orphan', '/var/run'),
      w('Job', 'once', '/var/run/cri-dockerd.sock'),
      w('Deployment', 'fine', '/var/log/pods'),
      w('DaemonSet', 'logs-sub', '/var/lib/docker/containers/abc'),
    ]);
    expect(report.workloads.map((x) => [x.kind, x.name, x.path])).toEqual([
      ['CronJob', 'image-gc', '/var/run/docker.sock'],
      ['DaemonSet', 'fluent-bit', '/var/lib/docker/containers'],
      ['DaemonSet', 'logs-sub', '/var/lib/docker/containers/abc'],
      ['Deployment', 'builder', '/run/docker.sock'],
      ['Job', 'once', '/var/run/cri-dockerd.sock'],
      ['ReplicaSet', 'orphan', '/var/run'],
      ['StatefulSet', 'ci', '/var/lib/docker'],
    ]);
    const by = (name: string) => report.workloads.find((x) => x.name === name)!.breaks;
    expect(by('fluent-bit')).toMatch(/reads Docker's JSON log files: .*CRI format under \/var\/log\/pods/);
    expect(by('image-gc')).toMatch(/talks to Docker through its socket/);
    expect(by('ci')).toMatch(/Docker's data directory/);
    expect(renderCheck(report)).toMatch(/ops\s+CronJob\/image-gc\s+\/var\/run\/docker\.sock\s+talks to Docker/);
  });

  it('check: exit 1 and JSON when a workload depends on Docker', async () => {
    const w = cliWorld({ workloads: [{ kind: 'CronJob', namespace: 'ops', name: 'image-gc', hostPaths: [{ volume: 'v', path: '/var/run/docker.sock' }] }] });
    w.nodes.nodes.forEach((n, k) => w.nodes.nodes.set(k, { ...n, containerRuntimeVersion: 'containerd://1.7.24' }));
    expect(await checkCommand(w.ctx, 'json')).toBe(1);
    expect(JSON.parse(w.stdout.join('')).workloads).toEqual([expect.objectContaining({ kind: 'CronJob', name: 'image-gc', path: '/var/run/docker.sock' })]);
  });

  it('shows a ReplicaSet as its Deployment only when the hash matches', () => {
    expect(workloadOwner({ owner: { kind: 'ReplicaSet', name: 'web-abc12' }, labels: { 'pod-template-hash': 'abc12' } })).toBe('Deployment/web');
    expect(workloadOwner({ owner: { kind: 'ReplicaSet', name: 'standalone' }, labels: {} })).toBe('ReplicaSet/standalone');
    expect(workloadOwner({ labels: {} })).toBe('none');
  });
});
