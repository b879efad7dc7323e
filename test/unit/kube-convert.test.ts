import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { statusBody, statusCode, toNodeView, toPodView } from '../../src/kube/convert.js';
import { budgetFromStatus } from '../../src/kube/drain.js';

describe('Kubernetes object conversion', () => {
  it('turns a Node into the engine view', () => {
    const node: V1Node = {
      metadata: { name: 'w1', resourceVersion: '42', labels: { a: 'b' }, annotations: { x: 'y' } },
      spec: { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] },
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          { type: 'Ready', status: 'True' },
        ],
        nodeInfo: { containerRuntimeVersion: 'docker://20.10.24', kubeletVersion: 'v1.23.17' } as NonNullable<V1Node['status']>['nodeInfo'],
        addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
      },
    };
    expect(toNodeView(node)).toEqual({
      name: 'w1',
      labels: { a: 'b' },
      annotations: { x: 'y' },
      unschedulable: true,
      unschedulableTaint: true,
      ready: true,
      containerRuntimeVersion: 'docker://20.10.24',
      kubeletVersion: 'v1.23.17',
      addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
      resourceVersion: '42',
    });
    expect(toNodeView({ metadata: { name: 'n' }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }).ready).toBe(false);
    expect(toNodeView({ metadata: { name: 'n' }, spec: { taints: [{ key: 'other', effect: 'NoSchedule' }] } }).unschedulableTaint).toBe(false);
  });

  it('turns a Pod into the drain view', () => {
    const pod: V1Pod = {
      metadata: {
        name: 'web-1',
        namespace: 'default',
        uid: 'u1',
        annotations: { 'kubernetes.io/config.mirror': 'abc' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6d4f', uid: 'r', controller: true },
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'not-a-controller', uid: 'c' },
        ],
        deletionTimestamp: new Date('2024-05-01T12:00:00Z'),
      },
      spec: { containers: [], volumes: [{ name: 'cache', emptyDir: {} }, { name: 'cfg', configMap: { name: 'x' } }] },
      status: { phase: 'Running' },
    };
    expect(toPodView(pod)).toEqual({
      namespace: 'default',
      name: 'web-1',
      uid: 'u1',
      labels: {},
      phase: 'Running',
      controllers: [{ kind: 'ReplicaSet', name: 'web-6d4f' }],
      mirror: true,
      usesEmptyDir: true,
      safeToEvict: false,
      deletionTimestamp: new Date('2024-05-01T12:00:00Z'),
    });
  });

  it('reads the PodDisruptionBudget out of a 429 Status, parsed or not', () => {
    const status = {
      kind: 'Status',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      reason: 'TooManyRequests',
      details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently' }] },
      code: 429,
    };
    const err = { code: 429, body: JSON.stringify(status) };
    expect(statusCode(err)).toBe(429);
    expect(budgetFromStatus(statusBody(err))).toBe('web-pdb');
    expect(budgetFromStatus(statusBody({ code: 429, body: status }))).toBe('web-pdb');
    expect(budgetFromStatus(statusBody({ code: 429, body: 'plain text' }))).toBeUndefined();
    expect(statusCode(new Error('x'))).toBeUndefined();
  });
});
