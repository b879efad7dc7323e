// npm run bench [-- --only controller,fleet,cli,kind] [--quick] [--keep]: the figures of issue 13, each next to its target,
// marked met or not. Nothing here is a test: it measures and prints.
import { runController, type ControllerFigures } from './controller.js';
import { runFleet } from './fleet.js';
import { runCliStart } from './cli-start.js';
import { runKind } from './kind.js';

interface Row {
  part: string;
  figure: string;
  target: string;
  met: boolean | undefined;
}

const rows: Row[] = [];
const row = (part: string, figure: string, target: string, met: boolean | undefined) => {
  rows.push({ part, figure, target, met });
  process.stderr.write(`  ${part}: ${figure} (${target}: ${met === undefined ? '-' : met ? 'met' : 'NOT met'})\n`);
};

const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]!.split(',')) : undefined;
const want = (part: string) => !only || only.has(part);
const quick = args.includes('--quick');

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

async function controllerPart(): Promise<void> {
  const warmupMs = quick ? 15_000 : 30_000;
  const measureMs = quick ? 15_000 : 60_000;
  for (const n of quick ? [1000] : [1000, 5000]) {
    process.stderr.write(`controller: ${n} nodes, idle (warm-up ${warmupMs / 1000} s, measured ${measureMs / 1000} s)\n`);
    const idle: ControllerFigures = await runController(n, 'idle', { warmupMs, measureMs });
    const leaseOnly = Object.keys(idle.requests).every((k) => /lease/.test(k));
    row(`controller idle, ${n} nodes`, `RSS ${idle.rssMb.toFixed(0)} MB, peak ${idle.peakRssMb.toFixed(0)} MB`, n === 5000 ? 'peak RSS <= 180 MB' : 'recorded', n === 5000 ? idle.peakRssMb <= 180 : undefined);
    row(`controller idle, ${n} nodes`, `${idle.requestsPerMin.toFixed(0)} requests/min: ${JSON.stringify(idle.requests)}`, 'Lease renewals only', leaseOnly);
    row(`controller idle, ${n} nodes`, `/metrics ${idle.metricsMs.median.toFixed(1)} ms median (${idle.metricsMs.min.toFixed(1)}-${idle.metricsMs.max.toFixed(1)})`, n === 5000 ? '< 50 ms' : 'recorded', n === 5000 ? idle.metricsMs.median < 50 : undefined);
  }
  process.stderr.write(`controller: 1000 labelled nodes waiting for the one slot\n`);
  const w = await runController(1000, 'waiting', { warmupMs, measureMs });
  row('controller, 1,000 waiting', `first pass over them ${w.firstPassS!.toFixed(1)} s`, 'recorded', undefined);
  row('controller, 1,000 waiting', `${mb(w.bytesPerMin)} served/min, ${w.requestsPerMin.toFixed(0)} requests/min: ${JSON.stringify(w.requests)}`, '< 1 MB/min', w.bytesPerMin < 1e6);
  row('controller, 1,000 waiting', `${w.cpuSPerMin.toFixed(2)} s CPU/min`, '< 1 s CPU/min', w.cpuSPerMin < 1);
  row('controller, 1,000 waiting', `RSS ${w.rssMb.toFixed(0)} MB, peak ${w.peakRssMb.toFixed(0)} MB`, 'recorded', undefined);
  row('controller, 1,000 waiting', `SIGTERM to exit ${w.stopS.toFixed(2)} s, Lease ${w.leaseReleased ? 'released' : 'NOT released'}`, 'exit within the 30 s grace period, Lease released', w.stopS < 30 && w.leaseReleased);
}

async function fleetPart(): Promise<void> {
  const n = quick ? 200 : 1000;
  process.stderr.write(`fleet: ${n} nodes at concurrency 10 over the engine and the controller, fake ports with measured step times\n`);
  const f = await runFleet(n, 10);
  row(`fleet ${n} nodes, concurrency 10`, `${(f.totalMs / 1000).toFixed(0)} s simulated vs ceil(N/k) x ${(f.perNodeMs / 1000).toFixed(1)} s = ${(f.idealMs / 1000).toFixed(0)} s: ${(f.totalMs / f.idealMs).toFixed(3)}x (${(f.wallMs / 1000).toFixed(1)} s real)`, '<= 1.1x', f.totalMs / f.idealMs <= 1.1);
}

async function cliPart(): Promise<void> {
  const c = await runCliStart(quick ? 5 : 10);
  row('CLI --help', `${c.helpMs.median.toFixed(0)} ms median (${c.helpMs.min.toFixed(0)}-${c.helpMs.max.toFixed(0)}), peak RSS ${c.helpPeakMb.toFixed(0)} MB`, '<= 150 ms', c.helpMs.median <= 150);
  row('CLI version', `${c.versionMs.median.toFixed(0)} ms median`, 'recorded', undefined);
}

async function kindPart(): Promise<void> {
  const rounds = quick ? 1 : 3;
  const k = await runKind({ rounds, pods: 60, switchPods: 20, keep: args.includes('--keep'), say: (s) => process.stderr.write(`${s}\n`) });
  const d = k.drain;
  const span = (ms: { min: number; median: number; max: number }) => `${(ms.median / 1000).toFixed(2)} s median (${(ms.min / 1000).toFixed(2)}-${(ms.max / 1000).toFixed(2)})`;
  row(`drain, ${d.pods} pods, ${d.rounds} rounds each`, `cri-migrator ${span(d.ours)}; kubectl drain ${span(d.kubectl)}; ratio ${d.ratio.toFixed(2)}x`, '<= 0.6x kubectl drain', d.ratio <= 0.6);
  const s = k.switch;
  row(`switch of ${s.node}`, s.phases.map((p) => `${p.phase} ${p.seconds.toFixed(1)}`).join(', ') + ` s; total ${s.totalS.toFixed(1)} s`, 'recorded', undefined);
  const at = (ms: number | undefined) => (ms === undefined ? 'not logged' : `${(ms / 1000).toFixed(2)} s`);
  row(`verification of ${s.node}`, `from its start: Ready on containerd at ${at(s.verify.readyMs)}, the smoke pod (created at once) Running at ${at(s.verify.smokeMs)}`, 'recorded', undefined);
  row(`host work on ${s.node}`, s.steps.map((x) => `${x.name} ${(x.ms / 1000).toFixed(2)}`).join(', ') + ` s; sum ${(s.steps.reduce((a, x) => a + x.ms, 0) / 1000).toFixed(1)} s`, 'recorded', undefined);
  row(
    `switch of ${s.node}`,
    `outside the drain ${s.outsideDrainS.toFixed(1)} s (the drain: its ${s.pods} pods evicted and gone in ${s.drainS.toFixed(1)} s); carrying images from Docker ${s.carryS.toFixed(1)} s, ${s.carryInDrainS.toFixed(1)} s of it beside the evictions ("${s.carried}"); floor ${s.floor.totalS.toFixed(1)} s (containerd to CRI ${span(s.floor.containerdS)}, kubelet to Ready ${span(s.floor.kubeletS)})`,
    '<= floor + 2 s',
    s.outsideDrainS <= s.floor.totalS + 2,
  );
  row(`API requests, controller migrating ${s.node}`, `${s.migrationRequests} besides ${s.evictions} evictions and ${s.leases} Lease requests: ${JSON.stringify(s.requests)}${s.refused.length ? `; refused: ${s.refused.join('; ')}` : ''}`, '<= 25 + one eviction per pod', s.migrationRequests <= 25);
}

async function main(): Promise<void> {
  if (want('cli')) await cliPart();
  if (want('fleet')) await fleetPart();
  if (want('controller')) await controllerPart();
  if (want('kind')) await kindPart();
  const width = (k: keyof Row) => Math.max(...rows.map((r) => String(r[k]).length), k.length);
  const cols: (keyof Row)[] = ['part', 'figure', 'target'];
  const w = cols.map(width);
  const line = (cells: string[]) => `| ${cells.slice(0, 3).map((c, i) => c.padEnd(w[i]!)).join(' | ')} | ${cells[3]} |`;
  process.stdout.write(`\n${line(['part', 'figure', 'target', 'met'])}\n|${w.map((x) => '-'.repeat(x + 2)).join('|')}|-----|\n`);
  for (const r of rows) process.stdout.write(`${line([r.part, r.figure, r.target, r.met === undefined ? '-' : r.met ? 'yes' : 'no'])}\n`);
  process.stdout.write(`\n${new Date().toISOString()}, ${(await import('node:os')).cpus().length} cores, Node ${process.version}\n`);
}

await main();
