// The CLI commands over the ports: plan, migrate, status, check. main.ts builds the adapters and
// calls these; tests call them with fakes. stdout carries the result, stderr the progress.
import { ANNOTATIONS, parseState } from '../domain/annotations.js';
import { claimAnnotations, claimVerdict, describeClaim } from '../domain/claim.js';
import { errorChain } from '../domain/errors.js';
import type { NodeView } from '../domain/types.js';
import { withDryRun } from '../dry-run.js';
import { driveNode } from '../engine/drive.js';
import type { EngineDeps } from '../engine/executor.js';
import { fanOut } from '../engine/observer.js';
import { NodeGoneError, StaleStateError, type WorkloadLister } from '../ports.js';
import { EXIT, type OutputFormat } from './args.js';
import { checkCluster, renderCheck } from './check.js';
import { buildNodePlan, PlanRecorder, renderPlanJson, renderPlanText, restingPoint, type NodePlan } from './plan.js';
import { prepareNode } from './prepare.js';
import { ProgressReporter } from './progress.js';
import { renderStatus, rolloutStatus, statusRows, type Status } from './status.js';
import { rolloutExtras } from '../engine/view.js';

export interface CliContext {
  engine: EngineDeps;
  workloads: WorkloadLister;
  stdout: (text: string) => void;
  /** Progress lines; null when logs go to stderr as JSON instead (--log-format json). */
  progress: ((text: string) => void) | null;
  stderr: (text: string) => void;
  signal?: AbortSignal;
  /** Nodes known_hosts has no host key for (checked before any node is labelled); absent: not checked. */
  missingHostKeys?: (nodes: readonly NodeView[]) => string[];
}

/**
 * Before any node is touched: every named node exists... as far as we can read it, and has a host
 * key in known_hosts. A node without one is a configuration problem: nothing is changed (exit 2).
 */
async function checkNamedNodes(ctx: CliContext, names: readonly string[]): Promise<number | undefined> {
  if (!ctx.missingHostKeys) return undefined;
  const found: NodeView[] = [];
  for (const name of names) {
    const node = await ctx.engine.nodes.get(name).catch(() => undefined);
    if (node) found.push(node);
  }
  const missing = ctx.missingHostKeys(found);
  if (missing.length === 0) return undefined;
  ctx.stderr(`error: no host key to verify for:\n  - ${missing.join('\n  - ')}\nNothing was changed.\n`);
  return EXIT.usage;
}

/**
 * The preparation patch (label, cleared state) written together with this CLI's claim, so the
 * controller, which watches that label, sees the node held from the first moment. Refused when
 * another actor holds the node.
 */
async function prepareWrite(ctx: CliContext, node: NodeView, patch: NonNullable<ReturnType<typeof prepareNode> & { kind: 'ready' }>['patch']) {
  const { engine } = ctx;
  const phase = node.annotations[ANNOTATIONS.phase];
  const verdict = claimVerdict(node.annotations, engine.actor, engine.clock.now());
  if (verdict.kind === 'held') return;
  if (!patch) return;
  const annotations = { ...patch.annotations, ...claimAnnotations(engine.actor, engine.clock.now()) };
  await engine.nodes.patch(node.name, { ...patch, annotations }, {
    // Only if nobody moved the node's state or claimed it since we read it.
    guard: (fresh) =>
      fresh.annotations[ANNOTATIONS.phase] === phase && claimVerdict(fresh.annotations, engine.actor, engine.clock.now()).kind !== 'held',
  });
}

/**
 * Labels and claims the node for `migrate` (prepareNode, then prepareWrite), or says why not.
 * Another actor that claimed the node between our read and our write makes the guarded write
 * fail: read again, so the answer names who holds it (two `migrate`s started at once).
 */
async function prepareAndClaim(ctx: CliContext, name: string, retry: boolean, write: (text: string) => void): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    const node = await readNode(ctx, name);
    const preparation = prepareNode(node, ctx.engine.config.selector, { retry, command: 'migrate' });
    if (preparation.kind === 'refused') return preparation.message;
    const held = heldBy(ctx, node);
    if (held) return held;
    if (attempt === 1) for (const note of preparation.notes) write(`${ctx.engine.clock.now().toISOString().slice(11, 19)}  ${name}  ${note}\n`);
    try {
      await prepareWrite(ctx, node, preparation.patch);
      return undefined;
    } catch (err) {
      if (!(err instanceof StaleStateError) || attempt >= 3) throw err;
    }
  }
}

/** Why this CLI may not act on the node now, or undefined. */
function heldBy(ctx: CliContext, node: NodeView): string | undefined {
  const verdict = claimVerdict(node.annotations, ctx.engine.actor, ctx.engine.clock.now());
  if (verdict.kind !== 'held') return undefined;
  const how = verdict.expired
    ? 'its claim has expired: if that actor is really gone, take the node over with --force'
    : 'wait until it finishes (cri-migrator status), or stop it first; --force only takes over an expired claim';
  return `${node.name} is held by ${describeClaim(verdict.by, ctx.engine.clock.now())}: ${how}`;
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
  const held = heldBy(ctx, before);
  if (held) {
    return buildNodePlan({ before, after: before, preparation: { notes: [], refused: held }, result: undefined, steps: [], preflight: [], pods: [], now }, engine.config);
  }
  const recorder = new PlanRecorder();
  const deps = withDryRun(engine, recorder);
  if (preparation.patch) await deps.nodes.patch(name, { ...preparation.patch, annotations: { ...preparation.patch.annotations, ...claimAnnotations(engine.actor, now) } });
  recorder.begin();
  const result = restingPoint(await driveNode(name, deps, { stopOnWait: true, ...(ctx.signal ? { signal: ctx.signal } : {}) }));
  const after = await deps.nodes.get(name);
  const pods = await engine.evictor.listPodsOnNode(name);
  return buildNodePlan(
    {
      before,
      after,
      preparation: { notes: preparation.notes },
      result,
      steps: recorder.steps,
      preflight: [...recorder.preflightResults],
      admission: recorder.admission,
      pods,
      now,
      ...(recorder.rendered ? { rendered: recorder.rendered } : {}),
    },
    engine.config,
  );
}

export async function planCommand(ctx: CliContext, nodes: readonly string[], options: { output: OutputFormat; retry: boolean }): Promise<number> {
  const refused = await checkNamedNodes(ctx, nodes);
  if (refused !== undefined) return refused;
  const plans: NodePlan[] = [];
  let failed = false;
  for (const name of nodes) {
    ctx.progress?.(`planning ${name} (read-only: the API server is only read, SSH runs read-only commands)\n`);
    try {
      plans.push(await planNode(ctx, name, options.retry));
    } catch (err) {
      failed = true;
      ctx.stderr(`error: ${name}: ${errorChain(err)}\n`);
    }
  }
  if (plans.length > 0) ctx.stdout(options.output === 'json' ? renderPlanJson(plans) : renderPlanText(plans));
  return failed || plans.some((p) => !p.ok) ? EXIT.failure : EXIT.ok;
}

export async function migrateCommand(ctx: CliContext, nodes: readonly string[], options: { retry: boolean }): Promise<number> {
  const { engine } = ctx;
  const refused = await checkNamedNodes(ctx, nodes);
  if (refused !== undefined) return refused;
  const write = ctx.progress ?? (() => undefined);
  const reporter = new ProgressReporter(write, engine.clock);
  const deps: EngineDeps = { ...engine, observer: fanOut(engine.observer, reporter) };
  let failed = 0;
  for (const name of nodes) {
    try {
      const refusal = await prepareAndClaim(ctx, name, options.retry, write);
      if (refusal !== undefined) {
        failed++;
        ctx.stderr(`error: ${refusal}\n`);
        continue;
      }
      // A halt or pause waits for a human: this command says so and stops instead of waiting.
      const result = restingPoint(await driveNode(name, deps, { stopOnGate: ['halted', 'paused'], ...(ctx.signal ? { signal: ctx.signal } : {}) }));
      const final = await engine.nodes.get(name);
      if (result.kind === 'settled' && result.phase === 'Succeeded') {
        ctx.stdout(`${name}: Succeeded (${final.containerRuntimeVersion})\n`);
        continue;
      }
      failed++;
      const phase = result.kind === 'settled' ? (result.phase ?? 'not started') : 'not started';
      const next =
        phase === 'RolledBack'
          ? `back on ${final.containerRuntimeVersion}. Fix the cause, then: cri-migrator migrate --retry ${name}`
          : phase === 'Failed'
            ? `needs a human: see kubectl describe node ${name}; ${backupNote(final)}. Then: cri-migrator migrate --retry ${name}`
            : result.kind === 'wait' && result.gate
              ? 'the rollout does not admit new nodes now (cri-migrator status says why)'
              : 'see cri-migrator status';
      ctx.stdout(`${name}: ${phase}: ${result.reason}\n`);
      ctx.stderr(`error: ${name} did not migrate (${phase}): ${next}\n`);
    } catch (err) {
      failed++;
      if (ctx.signal?.aborted) {
        ctx.stderr(`interrupted: ${name}'s progress is recorded on the node; run the same command again to resume\n`);
        break;
      }
      const why = err instanceof StaleStateError ? `${errorChain(err)} (another actor changed the node; run again)` : errorChain(err);
      ctx.stderr(`error: ${name}: ${why}\n`);
    }
  }
  return failed === 0 ? EXIT.ok : EXIT.failure;
}

function backupNote(node: NodeView): string {
  const parsed = parseState(node.annotations);
  const dir = parsed.ok ? parsed.state.backupDir : undefined;
  return dir ? `the original files are in ${dir} on the node` : 'no file on the node had been changed';
}

export async function statusCommand(ctx: CliContext, output: OutputFormat): Promise<number> {
  const { engine } = ctx;
  const [nodes, extras] = await Promise.all([engine.nodes.list(), rolloutExtras(engine)]);
  const now = engine.clock.now();
  const status: Status = { rollout: rolloutStatus(nodes, extras, engine.config, now), nodes: statusRows(nodes, engine.config.selector, now) };
  ctx.stdout(output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, engine.config.selector));
  return EXIT.ok;
}

/** Who a human is, for the pause: the CLI's identity. */
export async function pauseCommand(ctx: CliContext, reason: string): Promise<number> {
  const { engine } = ctx;
  await engine.rollout.writePause({ by: engine.actor.identity, at: engine.clock.now(), reason });
  ctx.stdout(`rollout paused${reason ? ` (${reason})` : ''}: no new node starts; nodes in flight finish. Go on with: cri-migrator resume\n`);
  return EXIT.ok;
}

export async function resumeCommand(ctx: CliContext): Promise<number> {
  const { engine } = ctx;
  const paused = await engine.rollout.readPause();
  if (paused) await engine.rollout.writePause(undefined);
  const halted = (await engine.nodes.list()).filter((n) => Object.hasOwn(n.annotations, ANNOTATIONS.halt));
  for (const node of halted) await engine.nodes.patch(node.name, { annotations: { [ANNOTATIONS.halt]: null } });
  const what = [
    ...(paused ? [`the pause by ${paused.by} (since ${paused.at.toISOString()})`] : []),
    ...halted.map((n) => `the halt of ${n.name} (${n.annotations[ANNOTATIONS.halt]})`),
  ];
  ctx.stdout(what.length ? `rollout resumed: cleared ${what.join('; ')}\n` : 'nothing to resume: the rollout was neither paused nor halted\n');
  if (halted.length) ctx.stdout(`the node(s) ${halted.map((n) => n.name).join(', ')} stay as they are: cri-migrator migrate --retry NODE once the cause is fixed\n`);
  return EXIT.ok;
}

export async function checkCommand(ctx: CliContext, output: OutputFormat): Promise<number> {
  const [nodes, pods, workloads] = await Promise.all([ctx.engine.nodes.list(), ctx.workloads.listPodHostPaths(), ctx.workloads.listWorkloadHostPaths()]);
  const report = checkCluster(nodes, pods, workloads);
  ctx.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return report.dockerNodes.length === 0 && report.socketUsers.length === 0 && report.workloads.length === 0 ? EXIT.ok : EXIT.failure;
}
