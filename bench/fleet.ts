// The fleet simulation: N nodes at concurrency k through the real controller and engine, over
// the fake ports of the unit tests (test/unit/sim.ts) whose steps take the times measured on kind
// (virtual time on a fake clock). Total time against ceil(N/k) x the time one node takes alone.
import { loadConfig } from '../src/config.js';
import { ANNOTATIONS } from '../src/domain/annotations.js';
import { Controller } from '../src/controller/run.js';
import { makeNode, silentLog } from '../test/unit/fakes.js';
import { FakeLock, simulatedCluster, until, type StepTimes } from '../test/unit/sim.js';

/**
 * Per-step times of a worker on kind 1.32 (cri-dockerd), from the migrate-132 e2e suite's phase
 * lines: preflight over SSH, a drain of a few pods, the containerd stage, the kubelet stage, and
 * Ready on containerd.
 */
export const MEASURED_STEPS: StepTimes = {
  remote: { Preflight: 1_500, RuntimeConfigured: 3_000, KubeletSwitched: 2_500 },
  drain: 4_000,
  verify: 1_000,
};

async function simulate(n: number, k: number): Promise<{ virtualMs: number; wallMs: number; maxMigrating: number }> {
  const config = loadConfig({ sets: [`concurrency=${k}`, 'minReadyNodes=0'] });
  const nodes = Array.from({ length: n }, (_, i) => makeNode({ name: `node-${String(i).padStart(4, '0')}` }));
  const sim = simulatedCluster({ config, nodes, steps: MEASURED_STEPS, cached: true });
  const controller = new Controller({ engine: sim.deps, watch: sim.watch, lock: new FakeLock(), log: silentLog, renewIntervalMs: 2_000, leaseDurationMs: 15_000 });
  const stop = new AbortController();
  const wall = performance.now();
  const running = controller.run(stop.signal);
  await until(() => sim.watch.onChange !== undefined, sim.clock);
  const start = sim.clock.now().getTime();
  for (const node of sim.nodes.nodes.values()) sim.watch.onChange!(structuredClone(node));
  const done = () => [...sim.nodes.nodes.values()].every((x) => x.annotations[ANNOTATIONS.phase] === 'Succeeded');
  await until(done, sim.clock, 10_000_000);
  // From the watch's first event to the last node's recorded finish (not the 1 s polling step).
  const virtualMs = Math.max(...[...sim.nodes.nodes.values()].map((x) => Date.parse(x.annotations[ANNOTATIONS.finishedAt]!))) - start;
  stop.abort();
  await running;
  return { virtualMs, wallMs: performance.now() - wall, maxMigrating: sim.maxMigrating() };
}

export async function runFleet(n: number, k: number) {
  const one = await simulate(1, 1);
  const fleet = await simulate(n, k);
  const idealMs = Math.ceil(n / k) * one.virtualMs;
  return { perNodeMs: one.virtualMs, totalMs: fleet.virtualMs, idealMs, wallMs: fleet.wallMs, maxMigrating: fleet.maxMigrating };
}
