// The Kubernetes adapters against a local HTTP server that answers like the API server, to check
// the wire protocol client-node v1 produces: patch content types, the resourceVersion guard and
// 409 retry, eviction dry runs and 429s, field selectors, and watch-driven waits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoreV1Api, PolicyV1Api, Watch, type V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { conciseApiErrors, toNodeView } from '../../src/kube/convert.js';
import type { NodeView } from '../../src/domain/types.js';
import { KubePodEvictor } from '../../src/kube/drain.js';
import { KubeEventRecorder } from '../../src/kube/events.js';
import { createLogger } from '../../src/log.js';
import { KubeNodeApi } from '../../src/kube/nodes.js';
import { KubeControlPlane } from '../../src/kube/control-plane.js';
import { KubeSmokeTester } from '../../src/kube/smoke.js';
import { FakeClock } from '../unit/fakes.js';
import { ApiUnavailableError, NodeGoneError, StaleStateError, systemClock } from '../../src/ports.js';
import { causedBy } from '../../src/domain/errors.js';
import { json, startLocalApi } from './local-api.js';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  body?: unknown;
}
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => boolean;

let api: Awaited<ReturnType<typeof startLocalApi>>;
let seen: Seen[] = [];
let handlers: Handler[] = [];
let core: CoreV1Api;
let policy: PolicyV1Api;
let watch: Watch;

const node = (rv: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'w1', resourceVersion: rv, annotations: { 'cri-migrator.dev/phase': 'Cordoned' } },
  spec: {},
  status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { containerRuntimeVersion: 'docker://20.10.24', kubeletVersion: 'v1.23.17' } },
  ...extra,
});

beforeAll(async () => {
  api = await startLocalApi((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}), ...(body ? { body: JSON.parse(body) } : {}) });
      for (const handle of handlers) if (handle(req, body, res)) return;
      json(res, 404, { kind: 'Status', code: 404, message: 'not found' });
    });
  });
  // As the adapters get them in production: request time limit, concise errors.
  core = conciseApiErrors(api.kc.makeApiClient(CoreV1Api), 1_000);
  policy = conciseApiErrors(api.kc.makeApiClient(PolicyV1Api), 1_000);
  watch = new Watch(api.kc);
});
afterAll(() => api.close());
beforeEach(() => {
  seen = [];
  handlers = [];
});

describe('KubeNodeApi over HTTP', () => {
  it('sends a JSON merge patch with the read resourceVersion, and retries a 409 with a fresh read', async () => {
    let reads = 0;
    let patches = 0;
    handlers.push((req, _body, res) => {
      if (req.method === 'GET' && req.url === '/api/v1/nodes/w1') {
        json(res, 200, node(String(5 + reads++)));
        return true;
      }
      if (req.method === 'PATCH' && req.url === '/api/v1/nodes/w1') {
        if (patches++ === 0) json(res, 409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' });
        else json(res, 200, node('9', { spec: { unschedulable: true } }));
        return true;
      }
      return false;
    });
    const api = new KubeNodeApi(core, watch, systemClock);
    const out = await api.patch('w1', { unschedulable: true, annotations: { 'cri-migrator.dev/intent': 'Drained', gone: null } }, { guard: (n) => n.annotations['cri-migrator.dev/phase'] === 'Cordoned' });
    expect(out.unschedulable).toBe(true);
    const sent = seen.filter((s) => s.method === 'PATCH');
    expect(sent).toHaveLength(2);
    expect(sent[0]!.contentType).toBe('application/merge-patch+json');
    expect(sent[0]!.body).toEqual({ metadata: { annotations: { 'cri-migrator.dev/intent': 'Drained', gone: null }, resourceVersion: '5' }, spec: { unschedulable: true } });
    expect((sent[1]!.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('6');
  });

  it('with the caller\'s copy (a watch cache) the guarded patch is sent without a read; a conflict, or a copy failing the guard, reads afresh', async () => {
    let patches = 0;
    handlers.push((req, _body, res) => {
      if (req.method === 'GET' && req.url === '/api/v1/nodes/w1') {
        json(res, 200, node('8'));
        return true;
      }
      if (req.method === 'PATCH' && req.url === '/api/v1/nodes/w1') {
        if (patches++ === 0) json(res, 409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' });
        else json(res, 200, node('9'));
        return true;
      }
      return false;
    });
    const nodes = new KubeNodeApi(core, watch, systemClock);
    const guard = (n: NodeView) => n.annotations['cri-migrator.dev/phase'] === 'Cordoned';
    const cached = toNodeView(node('7') as unknown as V1Node);
    await nodes.patch('w1', { unschedulable: true }, { guard, current: cached });
    expect(seen.map((s) => `${s.method} ${(s.body as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion ?? ''}`)).toEqual(['PATCH 7', 'GET ', 'PATCH 8']);
    // A copy that is behind and fails the guard: one read decides.
    seen = [];
    const behind = { ...cached, annotations: { 'cri-migrator.dev/phase': 'Preflight' } };
    await nodes.patch('w1', { unschedulable: true }, { guard, current: behind });
    expect(seen.map((s) => s.method)).toEqual(['GET', 'PATCH']);
  });

  it('reports a node the API server does not know (404) as NodeGoneError, on read and on patch', async () => {
    // No handler: every request is answered 404.
    const api = new KubeNodeApi(core, watch, systemClock);
    await expect(api.get('gone')).rejects.toThrow(new NodeGoneError('gone'));
    await expect(api.get('gone')).rejects.toBeInstanceOf(NodeGoneError);
    await expect(api.patch('gone', { unschedulable: true })).rejects.toBeInstanceOf(NodeGoneError);
  });

  it('refuses to patch when the guard fails on the fresh read', async () => {
    handlers.push((req, _b, res) => (req.method === 'GET' ? (json(res, 200, node('5')), true) : false));
    const api = new KubeNodeApi(core, watch, systemClock);
    await expect(api.patch('w1', { unschedulable: true }, { guard: () => false })).rejects.toBeInstanceOf(StaleStateError);
    expect(seen.some((s) => s.method === 'PATCH')).toBe(false);
  });

  it('waits for a condition through a watch on the single node', async () => {
    handlers.push((req, _b, res) => {
      if (req.url === '/api/v1/nodes/w1') return json(res, 200, node('5')), true;
      if (req.url?.startsWith('/api/v1/nodes?') && req.url.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const migrated = node('7');
        migrated.status.nodeInfo.containerRuntimeVersion = 'containerd://1.6.20';
        res.write(`${JSON.stringify({ type: 'MODIFIED', object: node('6') })}\n`);
        setTimeout(() => res.end(`${JSON.stringify({ type: 'MODIFIED', object: migrated })}\n`), 50);
        return true;
      }
      return false;
    });
    const api = new KubeNodeApi(core, watch, systemClock);
    const out = await api.waitFor('w1', (n) => n.containerRuntimeVersion.startsWith('containerd://'), 5_000, 'on containerd');
    expect(out.resourceVersion).toBe('7');
    const watchUrl = seen.find((s) => s.url.includes('watch=true'))!.url;
    expect(decodeURIComponent(watchUrl)).toContain('fieldSelector=metadata.name=w1');
    expect(watchUrl).toContain('resourceVersion=5');
  });

  it('waits from a copy already read: no GET, the watch starts at its resourceVersion', async () => {
    handlers.push((req, _b, res) => {
      if (req.url?.startsWith('/api/v1/nodes?') && req.url.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const migrated = node('9');
        migrated.status.nodeInfo.containerRuntimeVersion = 'containerd://1.6.20';
        res.end(`${JSON.stringify({ type: 'MODIFIED', object: migrated })}\n`);
        return true;
      }
      return false;
    });
    const api = new KubeNodeApi(core, watch, systemClock);
    const from: NodeView = toNodeView(node('8') as unknown as V1Node);
    const out = await api.waitFor('w1', (n) => n.containerRuntimeVersion.startsWith('containerd://'), 5_000, 'on containerd', from);
    expect(out.resourceVersion).toBe('9');
    expect(seen.map((s) => s.method)).toEqual(['GET']); // the watch alone
    expect(seen[0]!.url).toContain('watch=true');
    expect(seen[0]!.url).toContain('resourceVersion=8');
  });

  it('times out a wait naming what it last saw', async () => {
    handlers.push((req, _b, res) => {
      if (req.url === '/api/v1/nodes/w1') return json(res, 200, node('5')), true;
      if (req.url?.includes('watch=true')) return res.writeHead(200), true; // a watch that never says anything
      return false;
    });
    const api = new KubeNodeApi(core, watch, systemClock);
    await expect(api.waitFor('w1', () => false, 500, 'Ready with a containerd:// runtime')).rejects.toThrow(
      /node w1 was not Ready with a containerd:\/\/ runtime within 1s \(last seen: ready=true, runtime=docker:\/\/20.10.24\)/,
    );
  });
});

describe('API requests that find the API server not answering', () => {
  it('a request that hangs is cut at its time limit: ApiUnavailableError, not a hang', async () => {
    handlers.push((req) => req.url?.startsWith('/api/v1/nodes/w1') === true); // never answers
    const nodes = new KubeNodeApi(core, watch, systemClock);
    const started = Date.now();
    const err = await nodes.get('w1').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(causedBy(err, ApiUnavailableError)).toBeDefined();
  });

  it('a read whose connection is dropped is sent again (twice at most); a write is not', async () => {
    let dropped = 0;
    const drop = (res: ServerResponse) => (dropped++, res.socket?.destroy(), true);
    let drops = 2;
    handlers.push((req, _b, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/api/v1/nodes')) return drops-- > 0 ? drop(res) : (json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: {}, items: [node('7')] }), true);
      if (req.method === 'PATCH' && req.url?.startsWith('/api/v1/nodes/w1')) return drop(res);
      return false;
    });
    const nodes = new KubeNodeApi(core, watch, systemClock);
    expect((await nodes.list()).map((n) => n.name)).toEqual(['w1']);
    expect(seen.filter((r) => r.method === 'GET')).toHaveLength(3);
    drops = 3; // one more than the retries
    expect(causedBy(await nodes.list().catch((e: unknown) => e), ApiUnavailableError)).toBeDefined();
    dropped = 0;
    expect(causedBy(await nodes.patch('w1', { labels: { a: 'b' } }).catch((e: unknown) => e), ApiUnavailableError)).toBeDefined();
    expect(dropped).toBe(1);
  });

  it('a 503 is ApiUnavailableError; a 403 is not', async () => {
    let code = 503;
    handlers.push((req, _b, res) => (req.url?.startsWith('/api/v1/nodes/w1') ? (json(res, code, { kind: 'Status', code, message: 'x' }), true) : false));
    const nodes = new KubeNodeApi(core, watch, systemClock);
    expect(causedBy(await nodes.get('w1').catch((e: unknown) => e), ApiUnavailableError)).toBeDefined();
    code = 403;
    expect(causedBy(await nodes.get('w1').catch((e: unknown) => e), ApiUnavailableError)).toBeUndefined();
  });
});

describe('KubePodEvictor over HTTP', () => {
  it('reads a PodDisruptionBudget named by a blocked eviction (undefined when gone)', async () => {
    handlers.push((req, _b, res) => {
      if (req.url === '/apis/policy/v1/namespaces/default/poddisruptionbudgets/web') {
        json(res, 200, { metadata: { name: 'web', namespace: 'default' }, spec: { maxUnavailable: 0 }, status: { disruptionsAllowed: 0, currentHealthy: 4, desiredHealthy: 4, expectedPods: 4 } });
        return true;
      }
      return false;
    });
    const evictor = new KubePodEvictor(core, policy, watch);
    expect(await evictor.readBudget('default', 'web')).toEqual({
      namespace: 'default', name: 'web', maxUnavailable: '0', disruptionsAllowed: 0, currentHealthy: 4, desiredHealthy: 4, expectedPods: 4,
    });
    expect(await evictor.readBudget('default', 'gone')).toBeUndefined();
  });

  const pod = { namespace: 'default', name: 'web-1', uid: 'uid-1', labels: {}, phase: 'Running', controllers: [], mirror: false, usesEmptyDir: false };

  it('posts a policy/v1 Eviction with the uid precondition and grace period; dryRun=All for plans', async () => {
    handlers.push((req, _b, res) => (req.url?.startsWith('/api/v1/namespaces/default/pods/web-1/eviction') ? (json(res, 201, {}), true) : false));
    const evictor = new KubePodEvictor(core, policy, watch);
    expect(await evictor.evict(pod, { gracePeriodSeconds: 30 })).toEqual({ kind: 'accepted' });
    expect(await evictor.evict(pod, { gracePeriodSeconds: null, dryRun: true })).toEqual({ kind: 'accepted' });
    const [real, dry] = seen;
    expect(real!.body).toEqual({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'web-1', namespace: 'default' },
      deleteOptions: { gracePeriodSeconds: 30, preconditions: { uid: 'uid-1' } },
    });
    expect(real!.url).not.toContain('dryRun');
    expect(dry!.url).toContain('dryRun=All');
  });

  it('maps 429 to blocked (with the PDB), 404 and 409 to gone, others to errors', async () => {
    const answers = [
      [429, { kind: 'Status', code: 429, message: "Cannot evict pod as it would violate the pod's disruption budget.", details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently' }] } }],
      [404, { kind: 'Status', code: 404 }],
      [409, { kind: 'Status', code: 409 }],
      [500, { kind: 'Status', code: 500, message: 'etcd is sad' }],
    ] as const;
    let i = 0;
    handlers.push((req, _b, res) => (req.url?.includes('/eviction') ? (json(res, answers[i]![0], answers[i++]![1]), true) : false));
    const evictor = new KubePodEvictor(core, policy, watch);
    expect(await evictor.evict(pod, { gracePeriodSeconds: null })).toEqual({ kind: 'blocked', reason: "Cannot evict pod as it would violate the pod's disruption budget.", budget: 'web-pdb' });
    expect(await evictor.evict(pod, { gracePeriodSeconds: null })).toEqual({ kind: 'gone' });
    expect(await evictor.evict(pod, { gracePeriodSeconds: null })).toEqual({ kind: 'gone' });
    // A 500 is the API server failing, not the eviction being refused: retried as "not answering".
    const err = await evictor.evict(pod, { gracePeriodSeconds: null }).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'evicting default/web-1 failed' });
    expect(causedBy(err, ApiUnavailableError)?.message).toBe('the API server answered 500');
  });

  it('lists pods by spec.nodeName and sees deletions through the watch', async () => {
    handlers.push((req, _b, res) => {
      if (!req.url?.startsWith('/api/v1/pods')) return false;
      if (req.url.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        setTimeout(() => res.end(`${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1' } } })}\n`), 50);
        return true;
      }
      json(res, 200, { kind: 'PodList', metadata: { resourceVersion: '100' }, items: [{ metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1' }, spec: { containers: [] }, status: { phase: 'Running' } }] });
      return true;
    });
    const evictor = new KubePodEvictor(core, policy, watch);
    expect((await evictor.listPodsOnNode('w1')).map((p) => p.uid)).toEqual(['uid-1']);
    expect(decodeURIComponent(seen[0]!.url)).toContain('fieldSelector=spec.nodeName=w1');
    const remaining = await evictor.waitForDeletion('w1', [pod], AbortSignal.timeout(5_000));
    expect(remaining).toEqual([]);
    expect(seen.find((s) => s.url.includes('watch=true'))!.url).toContain('resourceVersion=100');
    // The drain's list started the watch: the pods were listed once.
    expect(seen.filter((s) => s.url.startsWith('/api/v1/pods') && !s.url.includes('watch=true'))).toHaveLength(1);
  });

  it('lists before watching when the drain\'s list is not there, or its watch fails (an expired resourceVersion)', async () => {
    let watches = 0;
    handlers.push((req, _b, res) => {
      if (!req.url?.startsWith('/api/v1/pods')) return false;
      if (req.url.includes('watch=true')) {
        watches++;
        // The first watch: 410 Gone, as for a resourceVersion the API server no longer holds.
        if (watches === 1) return (json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }), true);
        res.writeHead(200, { 'content-type': 'application/json' });
        setTimeout(() => res.end(`${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1' } } })}\n`), 50);
        return true;
      }
      json(res, 200, { kind: 'PodList', metadata: { resourceVersion: String(100 + seen.length) }, items: [{ metadata: { name: 'web-1', namespace: 'default', uid: 'uid-1' }, spec: { containers: [] }, status: { phase: 'Running' } }] });
      return true;
    });
    const evictor = new KubePodEvictor(core, policy, watch);
    expect(await evictor.waitForDeletion('w1', [pod], AbortSignal.timeout(10_000))).toEqual([]);
    const lists = seen.filter((s) => s.url.startsWith('/api/v1/pods') && !s.url.includes('watch=true'));
    // No list of the drain's before it: a list, the watch refused, a list again, the watch.
    expect(lists).toHaveLength(2);
    expect(watches).toBe(2);
  });
});

describe('KubeEventRecorder over HTTP', () => {
  const quiet = createLogger({ level: 'silent' });
  class StepClock {
    t = Date.parse('2026-11-23T10:00:00Z');
    now() {
      return new Date(this.t);
    }
    async sleep() {}
  }

  it('posts an Event on the Node, counts repeats on it with a merge patch, and posts anew for another message or after the window', async () => {
    let created = 0;
    handlers.push((req, _b, res) => {
      if (req.method === 'POST' && req.url === '/api/v1/namespaces/default/events') return json(res, 201, { metadata: { name: `w1.${++created}`, namespace: 'default' } }), true;
      if (req.method === 'PATCH' && req.url?.startsWith('/api/v1/namespaces/default/events/')) return json(res, 200, {}), true;
      return false;
    });
    const clock = new StepClock();
    const recorder = new KubeEventRecorder(core, clock, quiet, 'pod-a', { windowMs: 60_000, maxEntries: 10 });
    const blocked = { type: 'Warning' as const, reason: 'DrainBlocked', message: 'waiting for: default/web-1 (PodDisruptionBudget web-pdb)' };
    await recorder.record('w1', blocked);
    clock.t += 30_000;
    await recorder.record('w1', blocked);
    clock.t += 30_000;
    await recorder.record('w1', blocked);
    await recorder.record('w1', { ...blocked, message: 'waiting for: default/web-2 (PodDisruptionBudget web-pdb)' });
    clock.t += 61_000;
    await recorder.record('w1', blocked);

    expect(seen.map((s) => `${s.method} ${s.url.split('?')[0]}`)).toEqual([
      'POST /api/v1/namespaces/default/events',
      'PATCH /api/v1/namespaces/default/events/w1.1',
      'PATCH /api/v1/namespaces/default/events/w1.1',
      'POST /api/v1/namespaces/default/events',
      'POST /api/v1/namespaces/default/events',
    ]);
    const [first, second, third] = seen;
    expect(first!.body).toMatchObject({
      involvedObject: { kind: 'Node', name: 'w1', uid: 'w1' },
      type: 'Warning',
      reason: 'DrainBlocked',
      count: 1,
      reportingInstance: 'pod-a',
    });
    expect(second!.contentType).toBe('application/merge-patch+json');
    expect(second!.body).toEqual({ count: 2, lastTimestamp: '2026-11-23T10:00:30.000Z' });
    expect(third!.body).toEqual({ count: 3, lastTimestamp: '2026-11-23T10:01:00.000Z' });
  });

  it('posts a new Event when the counted one is gone (404), and never fails the caller', async () => {
    let posts = 0;
    handlers.push((req, _b, res) => {
      if (req.method === 'POST') return posts++ < 2 ? json(res, 201, { metadata: { name: `w1.${posts}` } }) : json(res, 500, { kind: 'Status', code: 500 }), true;
      if (req.method === 'PATCH') return json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' }), true;
      return false;
    });
    const recorder = new KubeEventRecorder(core, new StepClock(), quiet, 'pod-a');
    const ev = { type: 'Normal' as const, reason: 'MigrationStarted', message: 'cordoning' };
    await recorder.record('w1', ev);
    await recorder.record('w1', ev); // PATCH 404 -> POST w1.2
    await recorder.record('w1', ev); // PATCH w1.2 404 -> POST 500: logged, not thrown
    expect(seen.map((s) => `${s.method} ${s.url.split('?')[0]!.split('/').pop()}`)).toEqual(['POST events', 'PATCH w1.1', 'POST events', 'PATCH w1.2', 'POST events']);
  });
});

describe('KubeControlPlane over HTTP', () => {
  const staticPod = (component: string, ready: boolean) => ({
    metadata: { name: `${component}-cp1`, namespace: 'kube-system', labels: { component, tier: 'control-plane' } },
    spec: { nodeName: 'cp1' },
    status: {
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ name: component, containerID: `containerd://${component}1`, ready }],
    },
  });
  /** The static pods as the kubelet reports them at each poll: `ready(i)` for the i-th list. */
  const servePods = (ready: (poll: number) => boolean) => {
    let polls = 0;
    handlers.push((req, _body, res) => {
      if (req.method !== 'GET' || !req.url!.startsWith('/api/v1/namespaces/kube-system/pods?')) return false;
      expect(new URL(req.url!, 'http://x').searchParams.get('labelSelector')).toBe('tier=control-plane');
      const r = ready(polls++);
      json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [staticPod('etcd', true), staticPod('kube-apiserver', r)] });
      return true;
    });
    return () => polls;
  };

  it('counts the static pods back only once they have stayed Ready 10 s: a Ready that turns NotReady starts the wait again', async () => {
    const clock = new FakeClock();
    const t0 = clock.now().getTime();
    // Ready at the first two polls (the mirror pod's Ready from before the kubelet restarted),
    // NotReady at the third (the new kubelet's first report), Ready from then on.
    const polls = servePods((i) => i !== 2);
    await new KubeControlPlane(core, clock).waitForStaticPods('cp1', 'containerd', ['etcd', 'kube-apiserver'], 120_000);
    // Polls every 2 s: Ready again at 6 s, counted at 16 s.
    expect(clock.now().getTime() - t0).toBe(16_000);
    expect(polls()).toBe(9);
  });

  it('gives up at the time limit naming what was seen last, when the pods never stay Ready 10 s', async () => {
    const clock = new FakeClock();
    servePods((i) => i % 4 !== 3); // NotReady every fourth poll: never 10 s in a row
    await expect(new KubeControlPlane(core, clock).waitForStaticPods('cp1', 'containerd', ['etcd', 'kube-apiserver'], 28_000))
      .rejects.toThrow(/static pods of cp1 were not Ready on containerd within 28s: Ready for less than 10s/);
  });
});

describe('KubeSmokeTester over HTTP', () => {
  const pod = (phase: string, rv: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cri-migrator-smoke-w1-abc', namespace: 'cri-migrator', resourceVersion: rv }, spec: { nodeName: 'w1' }, status: { phase } });
  const serve = (watchPhase: string | undefined) =>
    handlers.push((req, _b, res) => {
      if (req.method === 'POST' && req.url === '/api/v1/namespaces/cri-migrator/pods') return json(res, 201, pod('Pending', '1')), true;
      if (req.method === 'DELETE') return json(res, 200, pod('Running', '3')), true;
      if (req.url?.startsWith('/api/v1/namespaces/cri-migrator/pods?') && req.url.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (watchPhase) res.write(`${JSON.stringify({ type: 'MODIFIED', object: pod(watchPhase, '2') })}\n`);
        return true; // held open
      }
      return false;
    });

  it('creates the pod before `after` resolves; its time limit runs from then, and the pod is deleted', async () => {
    serve(undefined); // never Running
    const tester = new KubeSmokeTester(core, watch, systemClock);
    let ready!: () => void;
    const after = new Promise<void>((r) => (ready = r));
    const started = performance.now();
    const run = tester.run('w1', { image: 'registry.k8s.io/pause:3.10', namespace: 'cri-migrator', timeoutMs: 300, after });
    const outcome = run.then(() => 'resolved', (err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 600)); // longer than the limit: not counted yet
    expect(seen.some((s) => s.method === 'POST')).toBe(true);
    expect(seen.some((s) => s.method === 'DELETE')).toBe(false);
    ready();
    expect(await outcome).toMatch(/not Running on w1 within 0s/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(850);
    expect(seen.filter((s) => s.method === 'DELETE')).toHaveLength(1);
  });

  it('`after` rejecting gives the pod up at once (deleted); Running before it resolves waits for it', async () => {
    serve(undefined);
    const tester = new KubeSmokeTester(core, watch, systemClock);
    let fail!: (e: Error) => void;
    const after = new Promise<void>((_r, j) => (fail = j));
    const run = tester.run('w1', { image: 'registry.k8s.io/pause:3.10', namespace: 'cri-migrator', timeoutMs: 60_000, after }).then(() => 'resolved', (err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 100));
    fail(new Error('not Ready'));
    expect(await run).toMatch(/given up: the node did not verify/);
    expect(seen.filter((s) => s.method === 'DELETE')).toHaveLength(1);

    handlers = [];
    seen = [];
    serve('Running');
    let ready!: () => void;
    const later = new Promise<void>((r) => (ready = r));
    let done = false;
    const running = tester.run('w1', { image: 'registry.k8s.io/pause:3.10', namespace: 'cri-migrator', timeoutMs: 60_000, after: later }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false); // Running, but the node not yet verified
    ready();
    await running;
    expect(seen.filter((s) => s.method === 'DELETE')).toHaveLength(1);
  });
});
