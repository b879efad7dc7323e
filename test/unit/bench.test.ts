// What `npm run bench` relies on to measure the right thing: the counting proxy (kind part) names
// requests as the API server's audit log would (verb and resource), and the controller runs with
// the node flags the image's ENTRYPOINT gives it.
import { describe, expect, it } from 'vitest';
import { entrypointNodeFlags } from '../../bench/controller.js';
import { refusedRequests, requestKind } from '../../bench/kind.js';

describe('entrypointNodeFlags', () => {
  it("reads the node flags of the Dockerfile's ENTRYPOINT", () => {
    expect(entrypointNodeFlags('FROM x\nENTRYPOINT ["node", "--optimize-for-size", "/app/dist/main.js"]\nCMD ["run"]\n')).toEqual(['--optimize-for-size']);
    expect(entrypointNodeFlags()).toContain('--optimize-for-size');
  });
});

describe('requestKind', () => {
  it.each([
    ['GET', '/api/v1/nodes/w1', 'get nodes'],
    ['GET', '/api/v1/nodes?labelSelector=a%3Db', 'list nodes'],
    ['GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dw1&watch=true', 'watch nodes'],
    ['PATCH', '/api/v1/nodes/w1', 'patch nodes'],
    ['GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dw1', 'list pods'],
    ['POST', '/api/v1/namespaces/web/pods/web-1/eviction', 'create pods/eviction'],
    ['POST', '/api/v1/namespaces/default/events', 'create events'],
    ['GET', '/apis/policy/v1/namespaces/web/poddisruptionbudgets/web', 'get poddisruptionbudgets'],
    ['PUT', '/apis/coordination.k8s.io/v1/namespaces/cri-migrator/leases/cri-migrator', 'update leases'],
    ['DELETE', '/api/v1/namespaces/cri-migrator/pods/smoke-w1', 'delete pods'],
    ['GET', '/api/v1/namespaces/cri-migrator', 'get namespaces'],
  ])('%s %s is "%s"', (method, url, kind) => {
    expect(requestKind(method, url)).toBe(kind);
  });
});

describe('refusedRequests', () => {
  it('names each refused request with the requests around it, Lease and eviction requests left out, a 404 not refused', () => {
    const trace = [
      { kind: 'get configmaps', status: 404 },
      { kind: 'patch nodes', status: 200 },
      { kind: 'update leases', status: 200 },
      { kind: 'create events', status: 201 },
      { kind: 'create pods/eviction', status: 429 },
      { kind: 'patch nodes', status: 409 },
      { kind: 'get nodes', status: 200 },
      { kind: 'patch nodes', status: 200 },
      { kind: 'watch pods' },
    ];
    expect(refusedRequests(trace)).toEqual(['patch nodes 409 (request 4 of 7; before: patch nodes, create events; after: get nodes, patch nodes)']);
    expect(refusedRequests(trace.filter((t) => t.status !== 409))).toEqual([]);
  });
});
