// The controller (dist/main.js run with the node flags of the image's ENTRYPOINT: the process the
// Deployment runs) against the API-shaped server with N nodes: memory, requests while idle, the
// work of 1,000 nodes waiting for a slot, the /metrics scrape, and the stop on SIGTERM.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { makeNode, startApiServer } from './api-server.js';
import { stats } from './stats.js';

const LABEL = { 'cri-migrator.dev/migrate': 'containerd' };
const ROOT = new URL('..', import.meta.url).pathname;

/** The node flags the image's ENTRYPOINT runs the controller with, so the bench measures that process. */
export function entrypointNodeFlags(dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new Error('Dockerfile has no ENTRYPOINT');
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  return argv.slice(1).filter((a) => a.startsWith('--'));
}

function procStatus(pid: number): { rssMb: number; peakMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime, stime (fields 14, 15)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024, cpuS: ticks / 100 };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ControllerFigures {
  nodes: number;
  scenario: 'idle' | 'waiting';
  rssMb: number;
  peakRssMb: number;
  /** Requests in the measured minute, by kind. */
  requests: Record<string, number>;
  requestsPerMin: number;
  bytesPerMin: number;
  cpuSPerMin: number;
  /** Until every waiting node had its first pass (its "waiting" log line). */
  firstPassS?: number;
  metricsMs: { min: number; median: number; max: number };
  /** SIGTERM to exit, and whether the Lease was given up on the way (its holder cleared). */
  stopS: number;
  leaseReleased: boolean;
}

/**
 * idle: N nodes all migrated (Succeeded). waiting: N labelled Pending nodes and one node another
 * actor holds (a live claim), concurrency 1: every node waits for the slot.
 */
export async function runController(n: number, scenario: 'idle' | 'waiting', options: { warmupMs: number; measureMs: number; log?: (s: string) => void }): Promise<ControllerFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'crim-bench-'));
  const now = new Date().toISOString();
  const nodes = Array.from({ length: n }, (_, i) =>
    scenario === 'idle'
      ? makeNode(`node-${i}`, i + 1, { ...LABEL, 'cri-migrator.dev/migrated': 'containerd' }, {
          'cri-migrator.dev/phase': 'Succeeded',
          'cri-migrator.dev/attempt': '0',
          'cri-migrator.dev/started-at': now,
          'cri-migrator.dev/finished-at': now,
        })
      : makeNode(`node-${i}`, i + 1, LABEL, {}),
  );
  if (scenario === 'waiting') {
    nodes.push(
      makeNode('held', n + 1, {}, {
        'cri-migrator.dev/holder': 'cli@laptop/7',
        'cri-migrator.dev/holder-since': now,
        'cri-migrator.dev/holder-renewed-at': now,
        'cri-migrator.dev/holder-lease-seconds': '3600',
      }),
    );
  }
  const api = await startApiServer(nodes);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  writeFileSync(join(dir, 'known_hosts'), '10.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n');
  writeFileSync(
    join(dir, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: b, context: {cluster: b, user: u}}]\ncurrent-context: b\n`,
  );
  const metricsPort = await freePort();
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [...entrypointNodeFlags(), join(ROOT, 'dist/main.js'), 'run', '--kubeconfig', join(dir, 'kubeconfig'),
      '--set', `ssh.privateKeyPath=${join(dir, 'id')}`, '--set', `ssh.knownHostsPath=${join(dir, 'known_hosts')}`,
      '--set', 'leaderElection.namespace=bench', '--set', `metricsPort=${metricsPort}`, '--set', 'minReadyNodes=0'],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((r) => child.once('exit', r));
  const waiting = new Set<string>();
  let firstPassAt: number | undefined;
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"msg":"waiting"')) continue;
      const node = /"node":"([^"]+)"/.exec(line)?.[1];
      if (node) waiting.add(node);
      if (firstPassAt === undefined && waiting.size >= n) firstPassAt = Date.now();
    }
  });
  try {
    await sleep(options.warmupMs);
    api.take();
    const before = procStatus(child.pid!);
    await sleep(options.measureMs);
    const after = procStatus(child.pid!);
    const served = api.take();
    // A controller that never led would look perfectly idle: refuse the figures.
    if (!Object.keys(served.requests).some((k) => /lease/.test(k))) {
      throw new Error(`the controller did not renew its Lease in the measured window (requests: ${JSON.stringify(served.requests)}); its log is above`);
    }
    const perMin = 60_000 / options.measureMs;
    const scrapes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      await res.text();
      scrapes.push(performance.now() - t);
    }
    const final = procStatus(child.pid!);
    const stopping = Date.now();
    child.kill('SIGTERM');
    await exited;
    const stopS = (Date.now() - stopping) / 1000;
    return {
      nodes: n,
      scenario,
      rssMb: after.rssMb,
      peakRssMb: final.peakMb,
      requests: served.requests,
      requestsPerMin: served.total * perMin,
      bytesPerMin: served.bytes * perMin,
      cpuSPerMin: (after.cpuS - before.cpuS) * perMin,
      ...(scenario === 'waiting' ? { firstPassS: firstPassAt === undefined ? Number.NaN : (firstPassAt - started) / 1000 } : {}),
      metricsMs: stats(scrapes),
      stopS,
      leaseReleased: api.leaseHolder() === undefined,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await api.close();
  }
}
