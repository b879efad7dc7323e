// An API-shaped HTTP server for the controller benchmark: Nodes (list, watch, get, merge patch with
// the resourceVersion precondition; list pages with limit/continue), a Lease, Events, and 404 for the rest. It counts every request
// by verb and resource and every byte it serves, so the figures are what a real API server would
// have been asked for. Only what the controller uses is implemented; it is no API server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface Counter {
  requests: Map<string, number>;
  bytes: number;
}

/** A node as kubeadm's kubelet reports it: conditions, addresses, images (about 3.7 KB of JSON). */
export function makeNode(name: string, rv: number, labels: Record<string, string>, annotations: Record<string, string>): Json {
  const images = Array.from({ length: 14 }, (_, i) => ({
    names: [`registry.example.internal/team-${i}/service-${i}@sha256:${String(i).repeat(64).slice(0, 64)}`, `registry.example.internal/team-${i}/service-${i}:v1.${i}.0`],
    sizeBytes: 50_000_000 + i,
  }));
  const condition = (type: string, status: string) => ({ type, status, lastHeartbeatTime: '2026-12-01T00:00:00Z', lastTransitionTime: '2026-12-01T00:00:00Z', reason: `Kubelet${type}`, message: `kubelet ${type}` });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `00000000-0000-0000-0000-${String(rv).padStart(12, '0')}`,
      resourceVersion: String(rv),
      creationTimestamp: '2026-12-01T00:00:00Z',
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...labels },
      annotations: { 'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///var/run/cri-dockerd.sock', 'node.alpha.kubernetes.io/ttl': '0', ...annotations },
    },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
    status: {
      conditions: [condition('MemoryPressure', 'False'), condition('DiskPressure', 'False'), condition('PIDPressure', 'False'), condition('Ready', 'True')],
      addresses: [
        { type: 'InternalIP', address: '10.0.0.2' },
        { type: 'Hostname', address: name },
      ],
      capacity: { cpu: '8', memory: '32Gi', pods: '110' },
      allocatable: { cpu: '8', memory: '31Gi', pods: '110' },
      nodeInfo: {
        kubeletVersion: 'v1.32.2',
        containerRuntimeVersion: 'docker://27.5.1',
        kernelVersion: '6.1.0-28-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        architecture: 'amd64',
        operatingSystem: 'linux',
        machineID: 'm',
        systemUUID: 's',
        bootID: 'b',
        kubeProxyVersion: '',
      },
      images,
    },
  };
}

function mergeInto(target: Json, patch: Json): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof target[k] === 'object' && target[k] !== null) mergeInto(target[k] as Json, v as Json);
    else target[k] = v;
  }
}

export async function startApiServer(nodes: Json[]) {
  let rv = 10_000;
  const byName = new Map<string, Json>();
  for (const n of nodes) byName.set((n['metadata'] as Json)['name'] as string, n);
  const watchers = new Set<ServerResponse>();
  let lease: Json | undefined;
  const counter: Counter = { requests: new Map(), bytes: 0 };

  const count = (key: string) => counter.requests.set(key, (counter.requests.get(key) ?? 0) + 1);
  const send = (res: ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    counter.bytes += Buffer.byteLength(text);
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(text);
  };
  const notify = (type: string, object: Json) => {
    const line = `${JSON.stringify({ type, object })}\n`;
    for (const w of watchers) {
      counter.bytes += Buffer.byteLength(line);
      w.write(line);
    }
  };

  const handle = (req: IncomingMessage, body: string, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const watching = url.searchParams.get('watch') === 'true';
    let m: RegExpMatchArray | null;
    if (path === '/api/v1/nodes') {
      if (watching) {
        count('WATCH nodes');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watchers.add(res);
        res.on('close', () => watchers.delete(res));
        return;
      }
      count('LIST nodes');
      // limit/continue as the API server pages (the continue token here is just the offset).
      const all = [...byName.values()];
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const from = Number(url.searchParams.get('continue') ?? 0);
      const to = limit > 0 ? from + limit : all.length;
      const metadata = { resourceVersion: String(rv), ...(to < all.length ? { continue: String(to) } : {}) };
      return send(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata, items: all.slice(from, to) });
    }
    if ((m = path.match(/^\/api\/v1\/nodes\/([^/]+)$/))) {
      const node = byName.get(decodeURIComponent(m[1]!));
      if (method === 'GET') {
        count('GET node');
        return node ? send(res, 200, node) : send(res, 404, { kind: 'Status', code: 404 });
      }
      if (method === 'PATCH') {
        count('PATCH node');
        if (!node) return send(res, 404, { kind: 'Status', code: 404 });
        const patch = JSON.parse(body) as Json;
        const meta = (patch['metadata'] ?? {}) as Json;
        const expected = meta['resourceVersion'];
        if (expected !== undefined && expected !== (node['metadata'] as Json)['resourceVersion']) return send(res, 409, { kind: 'Status', code: 409, reason: 'Conflict' });
        delete meta['resourceVersion'];
        mergeInto(node, patch);
        (node['metadata'] as Json)['resourceVersion'] = String(++rv);
        notify('MODIFIED', node);
        return send(res, 200, node);
      }
    }
    if ((m = path.match(/^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/[^/]+\/leases(?:\/([^/]+))?$/))) {
      if (method === 'GET') {
        count('GET lease');
        return lease ? send(res, 200, lease) : send(res, 404, { kind: 'Status', code: 404 });
      }
      if (method === 'POST' || method === 'PUT') {
        count(method === 'POST' ? 'CREATE lease' : 'UPDATE lease');
        const next = JSON.parse(body) as Json;
        (next['metadata'] as Json)['resourceVersion'] = String(++rv);
        lease = next;
        return send(res, method === 'POST' ? 201 : 200, lease);
      }
    }
    if (/\/events(\/|$)/.test(path)) {
      count(`${method === 'POST' ? 'CREATE' : method} event`);
      return send(res, method === 'POST' ? 201 : 200, JSON.parse(body || '{}'));
    }
    if (/\/configmaps\//.test(path)) {
      count(`${method} configmap`);
      return send(res, 404, { kind: 'Status', code: 404 });
    }
    count(`${method} ${path.split('/').slice(-2).join('/')}`);
    return send(res, 404, { kind: 'Status', code: 404 });
  };

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    counter,
    /** The Lease's holder now (undefined once released, or before anyone took it). */
    leaseHolder(): string | undefined {
      return ((lease?.['spec'] ?? {}) as Json)['holderIdentity'] as string | undefined;
    },
    /** Requests and bytes since the last call. */
    take(): { requests: Record<string, number>; total: number; bytes: number } {
      const requests = Object.fromEntries(counter.requests);
      const total = [...counter.requests.values()].reduce((a, b) => a + b, 0);
      const out = { requests, total, bytes: counter.bytes };
      counter.requests.clear();
      counter.bytes = 0;
      return out;
    },
    async close() {
      for (const w of watchers) w.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
