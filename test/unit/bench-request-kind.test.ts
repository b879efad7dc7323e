// The counting proxy of `npm run bench` (kind part) names requests as the API server's audit log
// would: verb and resource, so "API requests per migration" adds up what was really sent.
import { describe, expect, it } from 'vitest';
import { requestKind } from '../../bench/kind.js';

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
