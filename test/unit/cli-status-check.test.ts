import { describe, expect, it } from 'vitest';
import { checkCluster, renderCheck, workloadOwner } from '../../src/cli/check.js';
import { renderStatus, statusRows } from '../../src/cli/status.js';
import { formatAge, oneLine, renderTable } from '../../src/cli/table.js';
import { ANNOTATIONS, MIGRATED_LABEL } from '../../src/domain/annotations.js';
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

  it('renders the table with truncated errors', () => {
    const text = renderStatus(statusRows(nodes, SELECTOR, NOW), SELECTOR);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+PHASE\s+RUNTIME\s+AGE\s+LAST ERROR$/);
    expect(lines[1]).toMatch(/^w1\s+Succeeded\s+containerd:\/\/1\.6\.20\s+47s\s+-$/);
    expect(lines[2]).toMatch(/^w2\s+Pending\s+docker:\/\/20\.10\.24\s+-\s+-$/);
    const w4 = lines.find((l) => l.startsWith('w4'))!;
    expect(w4).toContain('verify: xxx');
    expect(w4.endsWith('...')).toBe(true);
    expect(w4.length).toBeLessThan(160);
  });

  it('says how to start when no node is selected', () => {
    expect(renderStatus([], SELECTOR)).toContain('kubectl label node NODE cri-migrator.dev/migrate=containerd');
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
    expect(text).toBe('No node runs Docker (docker://).\n\nNo pod mounts a Docker socket through a hostPath.\n');
  });

  it('shows a ReplicaSet as its Deployment only when the hash matches', () => {
    expect(workloadOwner({ owner: { kind: 'ReplicaSet', name: 'web-abc12' }, labels: { 'pod-template-hash': 'abc12' } })).toBe('Deployment/web');
    expect(workloadOwner({ owner: { kind: 'ReplicaSet', name: 'standalone' }, labels: {} })).toBe('ReplicaSet/standalone');
    expect(workloadOwner({ labels: {} })).toBe('none');
  });
});
