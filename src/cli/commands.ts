// The CLI commands over the ports: plan, migrate, status, check. main.ts builds the adapters and
// calls these; tests call them with fakes. stdout carries the result, stderr the progress.
import { withDryRun } from '../dry-run.js';
import { driveNode } from '../engine/drive.js';
import type { EngineDeps } from '../engine/executor.js';
import type { NodeView } from '../domain/types.js';
import { ANNOTATIONS } from '../domain/annotations.js';
import { NodeGoneError, type WorkloadLister } from '../ports.js';
import { EXIT, type OutputFormat } from './args.js';
import { checkCluster, renderCheck } from './check.js';
import { buildNodePlan, PlanRecorder, renderPlanJson, renderPlanText, restingPoint, type NodePlan } from './plan.js';
import { prepareNode } from './prepare.js';
import { ProgressReporter, TeeEvents } from './progress.js';
import { renderStatus, statusRows } from './status.js';

export interface CliContext {
  engine: EngineDeps;
  workloads: WorkloadLister;
  stdout: (text: string) => void;
  /** Progress lines; null when logs go to stderr as JSON instead (--log-format json). */
  progress: ((text: string) => void) | null;
  stderr: (text: string) => void;
  signal?: AbortSignal;
}

function errorText(err: unknown): string {
  const chain: string[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = e.cause) {
    if (!chain.some((c) => c.includes(e.message))) chain.push(e.message);
  }
  return chain.join(': ') || String(err);
}

async function readNode(ctx: CliContext, name: string): Promise<NodeView> {
  try {
    return await ctx.engine.nodes.get(name);
  } catch (err) {
    if (err instanceof NodeGoneError) throw new Error(`node ${name} not found: check the name with kubectl get nodes (and --context)`);
    throw err;
  }
}

/** Plans one node: the engine runs on dry-run adapters; nothing outside this process changes. */
export async function planNode(ctx: CliContext, name: string, retry: boolean): Promise<NodePlan> {
  const { engine } = ctx;
  const before = await readNode(ctx, name);
  const now = engine.clock.now();
  const preparation = prepareNode(before, engine.config.selector, { retry, command: 'plan' });
  if (preparation.kind === 'refused') {
    return buildNodePlan(
      { before, after: before, preparation: { notes: [], refused: preparation.message }, result: undefined, steps: [], preflight: [], pods: [], now },
      engine.config,
    );
  }
  const dryRun = withDryRun(engine);
  const recorder = new PlanRecorder(dryRun);
  const deps: EngineDeps = { ...dryRun.deps, observer: recorder };
  if (preparation.patch) await deps.nodes.patch(name, preparation.patch);
  recorder.begin();
  const result = restingPoint(await driveNode(name, deps, { stopOnWait: true, ...(ctx.signal ? { signal: ctx.signal } : {}) }));
  const after = await deps.nodes.get(name);
  const pods = await engine.evictor.listPodsOnNode(name);
  return buildNodePlan(
    { before, after, preparation: { notes: preparation.notes }, result, steps: recorder.steps(), preflight: [...recorder.preflightResults], pods, now },
    engine.config,
  );
}

export async function planCommand(ctx: CliContext, nodes: readonly string[], options: { output: OutputFormat; retry: boolean }): Promise<number> {
  const plans: NodePlan[] = [];
  let failed = false;
  for (const name of nodes) {
    ctx.progress?.(`planning ${name} (read-only: the API server is only read, SSH runs read-only commands)\n`);
    try {
      plans.push(await planNode(ctx, name, options.retry));
    } catch (err) {
      failed = true;
      ctx.stderr(`error: ${name}: ${errorText(err)}\n`);
    }
  }
  if (plans.length > 0) ctx.stdout(options.output === 'json' ? renderPlanJson(plans) : renderPlanText(plans));
  return failed || plans.some((p) => !p.ok) ? EXIT.failure : EXIT.ok;
}

export async function migrateCommand(ctx: CliContext, nodes: readonly string[], options: { retry: boolean }): Promise<number> {
  const { engine } = ctx;
  const write = ctx.progress ?? (() => undefined);
  const reporter = new ProgressReporter(write, engine.clock);
  const deps: EngineDeps = { ...engine, observer: reporter, events: new TeeEvents(engine.events, (node, event) => reporter.event(node, event)) };
  let failed = 0;
  for (const name of nodes) {
    try {
      const node = await readNode(ctx, name);
      const preparation = prepareNode(node, engine.config.selector, { retry: options.retry, command: 'migrate' });
      if (preparation.kind === 'refused') {
        failed++;
        ctx.stderr(`error: ${preparation.message}\n`);
        continue;
      }
      for (const note of preparation.notes) write(`${engine.clock.now().toISOString().slice(11, 19)}  ${name}  ${note}\n`);
      if (preparation.patch) {
        const phase = node.annotations[ANNOTATIONS.phase];
        // Only if nobody moved the node's state since we read it.
        await engine.nodes.patch(name, preparation.patch, { guard: (fresh) => fresh.annotations[ANNOTATIONS.phase] === phase });
      }
      const result = restingPoint(await driveNode(name, deps, { onPass: (r) => reporter.pass(r), ...(ctx.signal ? { signal: ctx.signal } : {}) }));
      const final = await engine.nodes.get(name);
      if (result.kind === 'settled' && result.phase === 'Succeeded') {
        ctx.stdout(`${name}: Succeeded (${final.containerRuntimeVersion})\n`);
        continue;
      }
      failed++;
      const phase = result.kind === 'settled' ? (result.phase ?? 'not started') : 'waiting';
      const next =
        phase === 'RolledBack'
          ? `back on ${final.containerRuntimeVersion}. Fix the cause, then: cri-migrator migrate --retry ${name}`
          : phase === 'Failed'
            ? `needs a human: see kubectl describe node ${name}; the original files are in ${engine.config.backupDir} on the node. Then: cri-migrator migrate --retry ${name}`
            : 'see cri-migrator status';
      ctx.stdout(`${name}: ${phase}: ${result.reason}\n`);
      ctx.stderr(`error: ${name} did not migrate (${phase}): ${next}\n`);
    } catch (err) {
      failed++;
      if (ctx.signal?.aborted) {
        ctx.stderr(`interrupted: ${name}'s progress is recorded on the node; run the same command again to resume\n`);
        break;
      }
      ctx.stderr(`error: ${name}: ${errorText(err)}\n`);
    }
  }
  return failed === 0 ? EXIT.ok : EXIT.failure;
}

export async function statusCommand(ctx: CliContext, output: OutputFormat): Promise<number> {
  const rows = statusRows(await ctx.engine.nodes.list(), ctx.engine.config.selector, ctx.engine.clock.now());
  ctx.stdout(output === 'json' ? `${JSON.stringify({ nodes: rows }, null, 2)}\n` : renderStatus(rows, ctx.engine.config.selector));
  return EXIT.ok;
}

export async function checkCommand(ctx: CliContext, output: OutputFormat): Promise<number> {
  const [nodes, pods] = await Promise.all([ctx.engine.nodes.list(), ctx.workloads.listPodHostPaths()]);
  const report = checkCluster(nodes, pods);
  ctx.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return report.dockerNodes.length === 0 && report.socketUsers.length === 0 ? EXIT.ok : EXIT.failure;
}
