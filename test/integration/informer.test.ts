// The controller's node informer (KubeNodeWatch) against a local HTTP server that answers like the
// API server: it must recover from a failing list, a failing watch and a watch that goes silent,
// and resync its cache, without anybody restarting the process.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeView } from '../../src/domain/types.js';
import { KubeNodeWatch, type NodeInformerOptions } from '../../src/kube/informer.js';
import { createLogger } from '../../src/log.js';
import { json, startLocalApi } from './local-api.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let api: Awaited<ReturnType<typeof startLocalApi>>;
let kc: KubeConfig;
let core: CoreV1Api;
let onList: Handler;
let onWatch: Handler;
let lists = 0;
let watches = 0;
let informer: KubeNodeWatch | undefined;

const node = (name: string, rv: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, resourceVersion: rv, labels: { 'cri-migrator.dev/migrate': 'containerd' } },
  spec: {},
  status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { containerRuntimeVersion: 'docker://20.10.24', kubeletVersion: 'v1.32.2' } },
});
const nodeList = (rv: string, ...items: unknown[]) => ({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: rv }, items });
const fail = (res: ServerResponse) => json(res, 500, { kind: 'Status', code: 500, message: 'etcdserver: request timed out' });
/** A watch that stays open and says nothing, as a watch behind a dead load balancer would. */
const silent: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.flushHeaders();
};

/** Collects the warnings the informer logs. */
function capturingLog() {
  const lines: { msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  return { log: createLogger({ level: 'warn' }, sink), lines };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fast: NodeInformerOptions = { resyncMs: 60_000, quietMs: 60_000, initialBackoffMs: 50, maxBackoffMs: 200, pageSize: 500 };

beforeAll(async () => {
  api = await startLocalApi((req, res) => {
    if (req.url?.startsWith('/api/v1/nodes')) {
      if (req.url.includes('watch=true')) {
        watches++;
        return onWatch(req, res);
      }
      lists++;
      return onList(req, res);
    }
    json(res, 404, { kind: 'Status', code: 404 });
  });
  kc = api.kc;
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(() => api.close());
beforeEach(() => {
  lists = 0;
  watches = 0;
});
afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  api.server.closeAllConnections();
});

describe('KubeNodeWatch', () => {
  it('retries a failing list with backoff, then a failing watch, and delivers every node', async () => {
    const { log, lines } = capturingLog();
    onList = (_req, res) => (lists === 1 ? fail(res) : json(res, 200, nodeList('10', node('w1', '9'))));
    onWatch = (req, res) => {
      if (watches === 1) return fail(res);
      // The second watch resumes from the list's resourceVersion: nothing is listed again.
      expect(new URL(req.url!, 'http://x').searchParams.get('resourceVersion')).toBe('10');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: node('w2', '11') })}\n`);
    };
    const seen: NodeView[] = [];
    informer = new KubeNodeWatch(kc, core, log, fast);
    await informer.start((n) => seen.push(n));
    await until('w1 and w2 delivered', () => seen.some((n) => n.name === 'w2') && seen.some((n) => n.name === 'w1'));
    expect(lists).toBe(2);
    expect(watches).toBe(2);
    expect(lines.filter((l) => l.msg === 'node watch failed; restarting')).toHaveLength(2);
  });

  it('restarts a watch that goes quiet for longer than quietMs', async () => {
    const { log, lines } = capturingLog();
    onList = (_req, res) => json(res, 200, nodeList('10', node('w1', '9')));
    onWatch = (_req, res) => {
      if (watches === 1) return silent(_req, res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: node('w2', '11') })}\n`);
    };
    const seen: string[] = [];
    informer = new KubeNodeWatch(kc, core, log, { ...fast, quietMs: 300 });
    await informer.start((n) => seen.push(n.name));
    await until('w2 through the second watch', () => seen.includes('w2'));
    expect(watches).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.msg === 'node watch went quiet; restarting it')).toBe(true);
  });

  it('hands every cached node to the controller again on each resync, with no event from the server', async () => {
    const { log } = capturingLog();
    onList = (_req, res) => json(res, 200, nodeList('10', node('w1', '9'), node('w2', '9')));
    onWatch = silent;
    const seen: string[] = [];
    informer = new KubeNodeWatch(kc, core, log, { ...fast, resyncMs: 100 });
    await informer.start((n) => seen.push(n.name));
    await until('three resyncs', () => seen.filter((n) => n === 'w1').length >= 4 && seen.filter((n) => n === 'w2').length >= 4);
    expect(lists).toBe(1);
    expect(watches).toBe(1);
  });

  it('serves the nodes from its cache once the list has arrived (no request per read), and nothing once stopped', async () => {
    const { log } = capturingLog();
    onList = (_req, res) => (lists === 1 ? fail(res) : json(res, 200, nodeList('10', node('w1', '9'), node('w2', '9'), node('w3', '9'))));
    onWatch = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...node('w2', '12'), spec: { unschedulable: true } } })}\n`);
      res.write(`${JSON.stringify({ type: 'DELETED', object: node('w3', '13') })}\n`);
    };
    informer = new KubeNodeWatch(kc, core, log, fast);
    expect(informer.cached()).toBeUndefined();
    await informer.start(() => undefined);
    expect(informer.cached()).toBeUndefined(); // the first list failed: no cache to answer from
    const cache = await until('the cache after the retried list', () => informer!.cached()?.find((n) => n.name === 'w2' && n.unschedulable));
    expect(cache).toBeDefined();
    await until('the deletion', () => informer!.cachedNode('w3') === undefined);
    expect(informer.cachedNode('w2')).toMatchObject({ resourceVersion: '12', unschedulable: true });
    const requests = lists + watches;
    for (let i = 0; i < 100; i++) expect(informer.cached()!.map((n) => n.name).sort()).toEqual(['w1', 'w2']);
    expect(lists + watches).toBe(requests);
    await informer.stop();
    expect(informer.cached()).toBeUndefined();
    expect(informer.cachedNode('w1')).toBeUndefined();
  });

  it('lists page by page (limit and continue) and still sees every node and each change after', async () => {
    const { log } = capturingLog();
    const all = Array.from({ length: 1200 }, (_, i) => node(`w${i}`, '9'));
    const asked: { limit: string | null; token: string | null }[] = [];
    onList = (req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      asked.push({ limit: q.get('limit'), token: q.get('continue') });
      const from = Number(q.get('continue') ?? 0);
      const to = from + Number(q.get('limit'));
      json(res, 200, { ...nodeList('10', ...all.slice(from, to)), metadata: { resourceVersion: '10', ...(to < all.length ? { continue: String(to) } : {}) } });
    };
    onWatch = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...node('w700', '12'), spec: { unschedulable: true } } })}\n`);
      res.write(`${JSON.stringify({ type: 'DELETED', object: node('w3', '13') })}\n`);
    };
    const seen = new Set<string>();
    informer = new KubeNodeWatch(kc, core, log, fast);
    await informer.start((n) => seen.add(n.name));
    await until('the change to w700', () => informer!.cachedNode('w700')?.unschedulable);
    await until('the deletion of w3', () => informer!.cachedNode('w3') === undefined);
    expect(asked).toEqual([
      { limit: '500', token: null },
      { limit: '500', token: '500' },
      { limit: '500', token: '1000' },
    ]);
    expect(seen.size).toBe(1200);
    expect(informer.cached()).toHaveLength(1199);
    expect(informer.cachedNode('w1199')).toMatchObject({ resourceVersion: '9', ready: true });
  });

  it('stops for good: no list or watch after stop()', async () => {
    const { log } = capturingLog();
    onList = (_req, res) => fail(res);
    onWatch = silent;
    informer = new KubeNodeWatch(kc, core, log, fast);
    await informer.start(() => undefined);
    await until('the first list', () => lists >= 1);
    await informer.stop();
    const after = lists;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(lists).toBe(after);
  });
});
