// The parts of the benchmark that need a real cluster (kind 1.32, Docker workers, built by the
// project's harness): the drain against `kubectl drain` on the same pods, one node's switch phase
// by phase against the floor measured on that node, and the API requests of that migration,
// counted by a proxy between the controller and the API server.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { defaultConfig } from '../src/config.js';
import { drainNode } from '../src/drain/drain.js';
import { createKubeAdapters } from '../src/kube/index.js';
import { createLogger } from '../src/log.js';
import { systemClock } from '../src/ports.js';
import { FORWARD_PHASES, TERMINAL_PHASES, type Phase } from '../src/domain/types.js';
import { ensureCluster, kubeClients, productEnv, releaseCluster, waitFor, type Cluster } from '../test/e2e/harness.js';
import { intentOf, mergePatch, MIGRATE_LABEL, phaseOf, watchNode } from '../test/e2e/ops.js';
import { writeConfig } from '../test/e2e/controller.js';
import { stats, type Stats } from './stats.js';
import { entrypointNodeFlags } from './controller.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Api = ReturnType<typeof kubeClients>;

const readyCondition = (n: k8s.V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');

// ---- drain ---------------------------------------------------------------------------------

const DRAIN_NS = 'bench-drain';
/** The pods on the switched node, for its drain to evict. */
const SWITCH_NS = 'bench-switch';

async function podsReadyOn(api: Api, node: string, want: number, namespace = DRAIN_NS): Promise<true | undefined> {
  const pods = (await api.core.listNamespacedPod({ namespace, fieldSelector: `spec.nodeName=${node}` })).items;
  const ready = pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  return ready.length === want && pods.length === want ? true : undefined;
}

async function placePods(cluster: Cluster, api: Api, node: string, pods: number, namespace = DRAIN_NS): Promise<void> {
  await api.core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  const labels = { app: 'drainee' };
  await api.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'drainee' },
      spec: {
        replicas: pods,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': node },
            terminationGracePeriodSeconds: 30,
            // Exits at once on SIGTERM, so both drains wait for the API, not for the pods.
            containers: [{ name: 'app', image: cluster.testImage, imagePullPolicy: 'Never', command: ['sh', '-c', "trap 'exit 0' TERM; sleep 100000 & wait"] }],
          },
        },
      },
    },
  });
}

export interface DrainFigures {
  ours: Stats;
  kubectl: Stats;
  ratio: number;
  rounds: number;
  pods: number;
}

async function drainRounds(cluster: Cluster, api: Api, node: string, pods: number, rounds: number, say: (s: string) => void): Promise<DrainFigures> {
  await placePods(cluster, api, node, pods);
  const config = defaultConfig();
  const log = createLogger({ level: 'warn' });
  const kube = createKubeAdapters(api.kc, config, systemClock, log);
  const ours = async () => {
    await kube.nodes.patch(node, { unschedulable: true });
    await drainNode({
      nodeName: node,
      deadline: new Date(Date.now() + 600_000),
      config,
      evictor: kube.evictor,
      clock: systemClock,
      log,
      onBlocked: async () => undefined,
    });
  };
  const theirs = async () => {
    await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfig, 'drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=600s']);
  };
  const times = { ours: [] as number[], kubectl: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    // Alternated, and the order flipped each round, so neither gets the warmer cluster.
    const order: (keyof typeof times)[] = round % 2 === 1 ? ['ours', 'kubectl'] : ['kubectl', 'ours'];
    for (const who of order) {
      await waitFor(`${pods} pods Ready on ${node}`, 600_000, () => podsReadyOn(api, node, pods));
      await sleep(2000);
      const t = performance.now();
      await (who === 'ours' ? ours() : theirs());
      const s = (performance.now() - t) / 1000;
      times[who].push(s);
      say(`drain round ${round}, ${who === 'ours' ? 'cri-migrator' : 'kubectl drain'}: ${s.toFixed(2)} s`);
      await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfig, 'uncordon', node]);
    }
  }
  await api.core.deleteNamespace({ name: DRAIN_NS }).catch(() => undefined);
  const o = stats(times.ours.map((s) => s * 1000));
  const k = stats(times.kubectl.map((s) => s * 1000));
  return { ours: o, kubectl: k, ratio: o.median / k.median, rounds, pods };
}

// ---- counting proxy ------------------------------------------------------------------------

/** "verb resource[/subresource]" as the API server's audit log would name the request. */
export function requestKind(method: string, url: string): string {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  const [resource = u.pathname, name, sub] = rest;
  const watch = u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1';
  const verb =
    method === 'GET' ? (watch ? 'watch' : name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PATCH' ? 'patch' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : method;
  return `${verb} ${resource}${sub ? `/${sub}` : ''}`;
}

/** An HTTP forwarder to `kubectl proxy` that counts each request by kind. */
async function countingProxy(upstreamPort: number) {
  const counts = new Map<string, number>();
  // Every request in order with its answer's status, to say which ones the API server refused.
  const trace: { kind: string; status?: number }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const kind = requestKind(req.method ?? 'GET', req.url ?? '/');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    const traced: { kind: string; status?: number } = { kind };
    trace.push(traced);
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      traced.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    trace,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function kubectlProxy(cluster: Cluster): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(cluster.kubectl, ['--kubeconfig', cluster.kubeconfig, 'proxy', '--port=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Starting to serve on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`kubectl proxy exited ${code}: ${out}`)));
  });
  return { port, child };
}

// ---- one node's switch ---------------------------------------------------------------------

/** One JSON log line of the controller (pino), or undefined for anything else. */
function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface SwitchFigures {
  node: string;
  /** Seconds from the intent of each phase to the phase recorded, in order. */
  phases: { phase: string; seconds: number }[];
  /** The host work in the order it ran: playbook steps and facts reads, from the controller's log. */
  steps: { name: string; ms: number }[];
  /** From the verification's start: the node Ready on containerd, the smoke pod Running. */
  verify: { readyMs?: number; smokeMs?: number };
  totalS: number;
  /** From labelling the node to Succeeded. */
  wallS: number;
  /** Pods on the node when it was labelled, evicted by its drain. */
  pods: number;
  /** The drain's own work: from the drain's intent until the last of those pods was gone from the API. */
  drainS: number;
  /** totalS less drainS: what the node spends beyond a drain, the image carry-over past the evictions included. */
  outsideDrainS: number;
  /** The MigrationImagesCarried Events' messages. */
  carried: string;
  /** The carry-images steps' time (the one started beside the drain, and the runtime stage's). */
  carryS: number;
  /** Of carryS, the part that ran while the pods were being evicted. */
  carryInDrainS: number;
  floor: { containerdS: Stats; kubeletS: Stats; totalS: number };
  requests: Record<string, number>;
  /** Requests from the label to Succeeded, other than evictions and the Lease's. */
  /** The requests the API server refused (a 409 is a guarded write that lost to another writer), with where they fell. */
  refused: string[];
  migrationRequests: number;
  evictions: number;
  /** Lease reads and renewals in that time (leader election, not the migration). */
  leases: number;
}

/** On the node, seconds of each: containerd restarted until its CRI answers; the kubelet restarted until the node reports Ready again. */
async function floorOn(api: Api, node: string, rounds: number): Promise<SwitchFigures['floor']> {
  const containerd: number[] = [];
  const kubelet: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const { stdout } = await run('docker', [
      'exec', node, 'bash', '-c',
      't=$(date +%s%N); systemctl restart containerd.service; until crictl --runtime-endpoint unix:///run/containerd/containerd.sock info >/dev/null 2>&1; do :; done; echo $(( ($(date +%s%N) - t) / 1000000 ))',
    ]);
    containerd.push(Number(stdout.trim()));
    await sleep(3000);
    const before = readyCondition(await api.core.readNode({ name: node }))?.lastHeartbeatTime;
    const t = Date.now();
    await run('docker', ['exec', node, 'systemctl', 'restart', 'kubelet.service']);
    // A status the restarted kubelet posted: Ready, with a heartbeat newer than the one before and
    // not older than the restart (heartbeats have whole seconds).
    await watchNode(api, node, 'be Ready after the kubelet restart', 120_000, (n) => {
      const c = readyCondition(n);
      const beat = c?.lastHeartbeatTime ? new Date(c.lastHeartbeatTime).getTime() : 0;
      const prev = before ? new Date(before).getTime() : 0;
      return c?.status === 'True' && beat > prev && beat >= Math.floor(t / 1000) * 1000;
    });
    kubelet.push(Date.now() - t);
    await sleep(3000);
  }
  const c = stats(containerd);
  const k = stats(kubelet);
  return { containerdS: c, kubeletS: k, totalS: (c.median + k.median) / 1000 };
}

/** When each pod of the namespace was gone from the API (Date.now()), from a watch started now. */
async function watchPodDeletions(api: Api, namespace: string): Promise<{ gone: Map<string, number>; stop(): void }> {
  const gone = new Map<string, number>();
  const request = await new Watch(api.kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    {},
    (type: string, pod: k8s.V1Pod) => {
      if (type === 'DELETED' && pod.metadata?.name) gone.set(pod.metadata.name, Date.now());
    },
    () => undefined,
  );
  return { gone, stop: () => request.abort() };
}

async function switchOne(cluster: Cluster, api: Api, node: string, pods: number, say: (s: string) => void): Promise<SwitchFigures> {
  await api.core.createNamespace({ body: { metadata: { name: 'cri-migrator' } } }).catch(() => undefined);
  // A node in service has pods: its drain evicts them, and the image carry-over starts beside the
  // evictions (what the product does on every such node).
  say(`switch: ${pods} pods on ${node} first, for its drain to evict`);
  await placePods(cluster, api, node, pods, SWITCH_NS);
  await waitFor(`${pods} pods Ready on ${node}`, 600_000, () => podsReadyOn(api, node, pods, SWITCH_NS));
  const evictees = (await api.core.listNamespacedPod({ namespace: SWITCH_NS })).items.map((p) => p.metadata!.name!);
  const deletions = await watchPodDeletions(api, SWITCH_NS);
  const proxy = await kubectlProxy(cluster);
  const counter = await countingProxy(proxy.port);
  const dir = mkdtempSync(join(tmpdir(), 'crim-bench-kind-'));
  const kubeconfig = join(dir, 'kubeconfig');
  // Plain HTTP on 127.0.0.1 to the proxy (client-node takes http:// only with TLS verification off).
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: "http://127.0.0.1:${counter.port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n`,
  );
  const configPath = await writeConfig(cluster, 'metricsPort: 0\n');
  // The controller, as the Deployment runs it (dist/main.js run), its every request through the proxy.
  const child = spawn(process.execPath, [...entrypointNodeFlags(), join(ROOT, 'dist/main.js'), 'run', '--kubeconfig', kubeconfig, '--config', configPath], {
    env: productEnv({ POD_NAME: 'bench-controller' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // The controller's log lines that time the host work: each playbook step and each facts read.
  const steps: SwitchFigures['steps'] = [];
  // The carry-images steps, as [start, end] in Date.now() time (pino's `time` is the line's).
  const carries: { from: number; to: number }[] = [];
  const verify: SwitchFigures['verify'] = {};
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const entry = parseLogLine(line);
      if (entry?.node !== node || typeof entry.ms !== 'number') continue;
      if (entry.msg === 'step ended' && typeof entry.step === 'string') {
        steps.push({ name: entry.duringDrain === true ? `${entry.step} (beside the drain)` : entry.step, ms: entry.ms });
        if (entry.step === 'carry-images' && typeof entry.time === 'number') carries.push({ from: entry.time - entry.ms, to: entry.time });
      }
      if (entry.msg === 'facts gathered') steps.push({ name: 'facts', ms: entry.ms });
      // Verification, from its start: the node Ready, the smoke pod Running (the two overlap).
      if (entry.msg === 'node Ready on containerd') verify.readyMs = entry.ms;
      if (entry.msg === 'smoke pod Running') verify.smokeMs = entry.ms;
    }
  });
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // When each intent and each phase first appeared on the node, from a watch (no change missed).
  const seen = new Map<string, number>();
  const note = (n: k8s.V1Node) => {
    for (const key of [`intent ${intentOf(n) ?? ''}`, `phase ${phaseOf(n) ?? ''}`]) {
      if (!key.endsWith(' ') && !seen.has(key)) seen.set(key, Date.now());
    }
  };
  let counts: Map<string, number>;
  let refused: string[] = [];
  let wallS: number;
  try {
    await waitFor('the controller to lead', 120_000, async () => {
      const lease = await api.coordination.readNamespacedLease({ namespace: 'cri-migrator', name: 'cri-migrator' });
      return lease.spec?.holderIdentity === 'bench-controller' ? true : undefined;
    });
    await sleep(2000);
    counter.counts.clear();
    counter.trace.length = 0;
    const started = performance.now();
    const ended = watchNode(api, node, 'end Succeeded, RolledBack or Failed', 600_000, (n) => {
      note(n);
      return TERMINAL_PHASES.includes(phaseOf(n) as Phase);
    });
    await api.core.patchNode({ name: node, body: { metadata: { labels: { [MIGRATE_LABEL]: 'containerd' } } } }, mergePatch());
    const last = await Promise.race([ended, exited.then(() => Promise.reject(new Error('the controller exited')))]);
    if (phaseOf(last) !== 'Succeeded') throw new Error(`${node} ended ${phaseOf(last)}`);
    wallS = (performance.now() - started) / 1000;
    counts = new Map(counter.counts);
    refused = refusedRequests(counter.trace);
  } catch (err) {
    throw new Error(`migrating ${node} under the controller failed: ${(err as Error).message}\n${output.slice(-3000)}`, { cause: err });
  } finally {
    child.kill('SIGTERM');
    deletions.stop();
    await exited;
    await counter.close();
    proxy.child.kill();
  }
  const first = [...seen].find(([key]) => key.startsWith('intent '))?.[1];
  const done = seen.get('phase Succeeded');
  if (first === undefined || done === undefined) throw new Error(`the node's phases were not seen: ${JSON.stringify([...seen])}`);
  // From the first intent written to Succeeded recorded: the migration, without the admission.
  const totalS = (done - first) / 1000;
  say(`switched ${node}: ${totalS.toFixed(1)} s from the first intent to Succeeded (${wallS.toFixed(1)} s from the label)`);
  const phases: SwitchFigures['phases'] = [];
  for (const phase of FORWARD_PHASES.slice(1)) {
    const from = seen.get(`intent ${phase}`);
    const to = seen.get(`phase ${phase}`);
    if (from !== undefined && to !== undefined) phases.push({ phase, seconds: (to - from) / 1000 });
  }
  // The drain's own work: until the last pod the node had was gone (what `kubectl drain` waits
  // for). The carry-over beside it is free while the evictions last; what runs past them is not.
  const drainFrom = seen.get('intent Drained');
  const missing = evictees.filter((p) => !deletions.gone.has(p));
  if (drainFrom === undefined || missing.length > 0) throw new Error(`the drain was not seen: intent Drained ${drainFrom}, pods not seen gone: ${missing.join(', ')}`);
  const drainTo = Math.max(...evictees.map((p) => deletions.gone.get(p)!));
  const drainS = (drainTo - drainFrom) / 1000;
  const carried = (await api.core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${node},reason=MigrationImagesCarried` })).items
    .map((e) => e.message ?? '')
    .join(' / ');
  const carryS = carries.reduce((a, c) => a + (c.to - c.from), 0) / 1000;
  const carryInDrainS = carries.reduce((a, c) => a + Math.max(0, Math.min(c.to, drainTo) - Math.max(c.from, drainFrom)), 0) / 1000;
  // The pods come back to the node once it is uncordoned: gone before the floor is measured.
  await api.core.deleteNamespace({ name: SWITCH_NS });
  await waitFor(`namespace ${SWITCH_NS} gone`, 600_000, () => api.core.readNamespace({ name: SWITCH_NS }).then(() => undefined, () => true));
  say('floor: containerd and kubelet restarted on the node, 3 times each');
  const floor = await floorOn(api, node, 3);
  const requests = Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
  const evictions = counts.get('create pods/eviction') ?? 0;
  // The Lease is renewed every few seconds whatever the controller does: counted apart.
  const leases = [...counts].filter(([k]) => k.endsWith(' leases')).reduce((a, [, v]) => a + v, 0);
  const all = [...counts.values()].reduce((a, b) => a + b, 0);
  return { node, phases, steps, verify, totalS, wallS, pods: evictees.length, drainS, outsideDrainS: totalS - drainS, carried: carried || 'no MigrationImagesCarried Event', carryS, carryInDrainS, floor, requests, refused, migrationRequests: all - evictions - leases, evictions, leases };
}

/**
 * The requests the API server refused (4xx but 404, an answer: the rollout's pause ConfigMap is
 * absent until someone pauses; 5xx), each with the requests around it, Lease and eviction
 * requests left out.
 */
export function refusedRequests(trace: readonly { kind: string; status?: number }[]): string[] {
  const relevant = trace.filter((t) => !t.kind.endsWith(' leases') && t.kind !== 'create pods/eviction');
  return relevant.flatMap((t, i) => {
    if (t.status === undefined || t.status < 400 || t.status === 404) return [];
    const before = relevant.slice(Math.max(0, i - 2), i).map((b) => b.kind);
    const after = relevant.slice(i + 1, i + 3).map((a) => a.kind);
    return [`${t.kind} ${t.status} (request ${i + 1} of ${relevant.length}; before: ${before.join(', ') || '-'}; after: ${after.join(', ') || '-'})`];
  });
}

// ---- the part ------------------------------------------------------------------------------

export interface KindFigures {
  drain: DrainFigures;
  switch: SwitchFigures;
}

export async function runKind(options: { rounds: number; pods: number; switchPods: number; keep: boolean; say: (s: string) => void }): Promise<KindFigures> {
  const { say } = options;
  say('kind: cluster crim-bench-132 (Kubernetes 1.32, two Docker workers via cri-dockerd), built or reused by hack/cluster.sh');
  const cluster = await ensureCluster('1.32', 'crim-bench-132');
  try {
    const api = kubeClients(cluster);
    const [drainee, switched] = cluster.nodes.filter((n) => n.role === 'worker').map((n) => n.name);
    if (!drainee || !switched) throw new Error(`crim-bench-132 has fewer than two workers: ${cluster.nodes.map((n) => n.name).join(', ')}`);
    // The switch first, on a node whose pods have settled, as the floor is measured: after the
    // drain rounds the node that took their pods would still be ending 60 of them (runs before
    // 2026-12-05 measured it so: its facts reads took 1.8-3.0 s where a quiet node's take 0.7-0.9 s).
    say(`switch: the controller migrates ${switched}, its requests through a counting proxy; then the floor on that node`);
    const sw = await switchOne(cluster, api, switched, options.switchPods, say);
    say(`drain: ${options.pods} pods on ${drainee}, ${options.rounds} rounds each, alternated`);
    const drain = await drainRounds(cluster, api, drainee, options.pods, options.rounds, say);
    return { drain, switch: sw };
  } finally {
    if (!options.keep) await releaseCluster(cluster);
  }
}
