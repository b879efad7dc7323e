// Applies the state machine's decisions through the ports. reconcileNode is the one entry point
// the controller, the CLI and the dry-run plan all use; a dry run passes recording ports.
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import {
  ANNOTATIONS,
  CONTAINERD_SOCKET,
  KUBEADM_CRI_SOCKET_ANNOTATION,
  MIGRATED_LABEL,
  MIGRATED_LABEL_VALUE,
  parseState,
  stateDiff,
} from '../domain/annotations.js';
import { forwardIndex, type MigrationState, type NodePatch, type NodeView, type Phase } from '../domain/types.js';
import { nodeLogger, redactText, type Logger } from '../log.js';
import type { Clock, EventRecorder, NodeApi, PodEvictor, RemoteConnector, RemoteHost, SmokeTester } from '../ports.js';
import type { PlaybookSet } from '../playbooks/loader.js';
import { completedState, decide, isMigrating, runtimeOf, type ActionName, type ClusterView, type Decision } from './decide.js';
import { describeBlockers, drainNode } from './drain.js';
import { errorChain, isTerminal, TerminalError } from './errors.js';
import { detectSourceRuntime, gatherFacts, type HostFacts } from './facts.js';
import { renderFiles, type RenderedFiles } from './files.js';
import type { Mutex } from './mutex.js';
import { runAsserts, runBackupDir, rollbackStages, runStage, type RunnerContext, type Stage } from './playbook-runner.js';
import { preflightChecks, type CheckResult } from './preflight.js';

export interface EngineDeps {
  config: Config;
  nodes: NodeApi;
  evictor: PodEvictor;
  events: EventRecorder;
  smoke: SmokeTester;
  connect: RemoteConnector;
  playbooks: PlaybookSet;
  clock: Clock;
  log: Logger;
  /** Serialises the admission of Pending nodes, so concurrency holds within this process. */
  admission: Mutex;
  /** Observers for progress output (CLI) and plans; optional. */
  observer?: EngineObserver;
}

export interface EngineObserver {
  decided?(node: string, decision: Decision): void;
  preflight?(node: string, results: readonly CheckResult[]): void;
  rendered?(node: string, rendered: RenderedFiles): void;
}

export type PassResult =
  | { kind: 'progressed'; node: string; action: ActionName; phase: Phase }
  | { kind: 'wait'; node: string; reason: string; requeueAfterMs: number }
  | { kind: 'settled'; node: string; reason: string; phase: Phase | undefined };

export class ActionFailedError extends Error {
  constructor(
    readonly node: string,
    readonly action: ActionName,
    readonly terminal: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ActionFailedError';
  }
}

/** Hash of what shapes a migration: recorded on the node when it starts. */
export function configHash(config: Config, playbooks: PlaybookSet): string {
  const { log: _log, playbooksDir: _dir, ...relevant } = config;
  return createHash('sha256')
    .update(JSON.stringify(relevant))
    .update(playbooks.dockershim.sha256)
    .update(playbooks['cri-dockerd'].sha256)
    .digest('hex')
    .slice(0, 16);
}

export async function clusterView(nodes: NodeApi, self: string): Promise<ClusterView> {
  const all = await nodes.list();
  const others = all.filter((n) => n.name !== self);
  return {
    readyOtherNodes: others.filter((n) => n.ready).length,
    inFlightOtherNodes: others
      .filter((n) => {
        const parsed = parseState(n.annotations);
        return parsed.ok && isMigrating(parsed.state);
      })
      .map((n) => n.name),
  };
}

/**
 * One level-triggered pass for one node: read it, decide, and take at most one step. Throws
 * ActionFailedError (after recording the failure on the node) so the caller can back off.
 */
export async function reconcileNode(name: string, deps: EngineDeps): Promise<PassResult> {
  const log = nodeLogger(deps.log, name);
  const node = await deps.nodes.get(name);
  const parsed = parseState(node.annotations);

  let decision: Decision;
  let state: MigrationState;
  if (parsed.ok && parsed.state.phase === 'Pending' && parsed.state.intent === undefined) {
    // Admission: decide and write the intent under one lock, from a fresh read, so two workers
    // cannot both take the last concurrency slot.
    const admitted = await deps.admission.run(async () => {
      const fresh = await deps.nodes.get(name);
      const freshState = parseState(fresh.annotations);
      const cluster = await clusterView(deps.nodes, name);
      const d = decide({ node: fresh, state: freshState, cluster }, deps.config, deps.clock.now());
      if (d.kind !== 'act' || !freshState.ok) return { decision: d, state: freshState.ok ? freshState.state : parsed.state, node: fresh };
      const intent = await writeIntent(fresh, freshState.state, d, deps);
      return { decision: d, state: intent.state, node: intent.node };
    });
    decision = admitted.decision;
    state = admitted.state;
    deps.observer?.decided?.(name, decision);
    if (decision.kind !== 'act') return await settleOrWait(admitted.node, decision, deps, log);
    return await act(admitted.node, state, decision, deps, log);
  }

  decision = decide({ node, state: parsed }, deps.config, deps.clock.now());
  deps.observer?.decided?.(name, decision);
  if (decision.kind !== 'act' || !parsed.ok) return await settleOrWait(node, decision, deps, log);
  const intent = await writeIntent(node, parsed.state, decision, deps);
  return await act(intent.node, intent.state, decision, deps, log);
}

async function settleOrWait(node: NodeView, decision: Decision, deps: EngineDeps, log: Logger): Promise<PassResult> {
  const parsed = parseState(node.annotations);
  if (decision.kind === 'wait') {
    log.info({ reason: decision.reason }, 'waiting');
    return { kind: 'wait', node: node.name, reason: decision.reason, requeueAfterMs: decision.requeueAfterMs };
  }
  if (decision.kind === 'none' && decision.warning) {
    // Tell a human once, not on every pass: remember the message on the node when we can.
    const already = parsed.ok ? parsed.state.lastError === decision.reason || parsed.state.rollbackReason !== undefined : false;
    if (!already) {
      log.warn({ reason: decision.reason }, 'needs attention');
      await deps.events.record(node.name, { type: 'Warning', reason: 'MigrationNeedsAttention', message: decision.reason });
      if (parsed.ok && parsed.state.phase === 'Pending') {
        await deps.nodes.patch(node.name, { annotations: { [ANNOTATIONS.lastError]: redactText(decision.reason) } });
      }
    }
  }
  return { kind: 'settled', node: node.name, reason: decision.kind === 'none' ? decision.reason : '', phase: parsed.ok ? parsed.state.phase : undefined };
}

/** Compare-and-swap on our own annotations: nobody else moved this node's state meanwhile. */
function sameState(expected: Readonly<Record<string, string>>) {
  const keys = [ANNOTATIONS.phase, ANNOTATIONS.intent, ANNOTATIONS.attempt];
  return (fresh: NodeView) => keys.every((k) => fresh.annotations[k] === expected[k]);
}

async function writeState(node: NodeView, next: MigrationState, deps: EngineDeps, extra: NodePatch = {}): Promise<NodeView> {
  const annotations = { ...stateDiff(node.annotations, next), ...extra.annotations };
  const patch: NodePatch = { ...extra, annotations };
  if (Object.keys(annotations).length === 0 && extra.labels === undefined && extra.unschedulable === undefined) return node;
  return deps.nodes.patch(node.name, patch, { guard: sameState(node.annotations) });
}

async function writeIntent(node: NodeView, state: MigrationState, decision: Extract<Decision, { kind: 'act' }>, deps: EngineDeps) {
  // Pure state transitions have no side effect to protect with an intent.
  if (decision.action === 'beginRollback' || decision.action === 'fail') return { node, state };
  const next: MigrationState = { ...state, intent: decision.target };
  if (decision.action === 'preflight') {
    next.startedAt ??= deps.clock.now();
    // Remembered before we touch the node, so rollback undoes only what we did.
    next.wasUnschedulable ??= node.unschedulable;
    next.previousCriSocket ??= node.annotations[KUBEADM_CRI_SOCKET_ANNOTATION] ?? '';
    next.configHash = configHash(deps.config, deps.playbooks);
  }
  return { node: await writeState(node, next, deps), state: next };
}

async function act(
  node: NodeView,
  state: MigrationState,
  decision: Extract<Decision, { kind: 'act' }>,
  deps: EngineDeps,
  log: Logger,
): Promise<PassResult> {
  const now = () => deps.clock.now();
  log.info({ action: decision.action, target: decision.target, reason: decision.reason }, 'acting');

  if (decision.action === 'beginRollback') {
    const next: MigrationState = { ...state, phase: 'RollingBack', attempt: 0, rollbackReason: state.lastError ?? decision.reason };
    if (state.intent !== undefined) next.failedPhase = state.intent;
    delete next.intent;
    await writeState(node, next, deps);
    await deps.events.record(node.name, { type: 'Warning', reason: 'MigrationRollingBack', message: redactText(decision.reason) });
    return { kind: 'progressed', node: node.name, action: decision.action, phase: 'RollingBack' };
  }
  if (decision.action === 'fail') {
    const next: MigrationState = { ...state, phase: 'Failed', finishedAt: now(), rollbackReason: state.rollbackReason ?? decision.reason };
    if (state.intent !== undefined) next.failedPhase ??= state.intent;
    delete next.intent;
    await writeState(node, next, deps);
    await deps.events.record(node.name, {
      type: 'Warning',
      reason: 'MigrationFailed',
      message: redactText(`${decision.reason}. The node needs a human; the original files are in ${runBackupDir(deps.config.backupDir, state.startedAt)} on the node`),
    });
    return { kind: 'progressed', node: node.name, action: decision.action, phase: 'Failed' };
  }

  let updates: Partial<MigrationState> & { patch?: NodePatch };
  try {
    updates = await ACTIONS[decision.action]({ node, state, deps, log });
  } catch (err) {
    const terminal = isTerminal(err);
    const message = redactText(errorChain(err));
    log.error({ err, action: decision.action, terminal }, 'action failed');
    const failed: MigrationState = {
      ...state,
      attempt: terminal ? Math.max(deps.config.retries.maxAttempts, state.attempt + 1) : state.attempt + 1,
      lastError: `${decision.action}: ${message}`,
    };
    try {
      const fresh = await deps.nodes.get(node.name);
      await writeState(fresh, failed, deps);
      await deps.events.record(node.name, {
        type: 'Warning',
        reason: 'MigrationStepFailed',
        message: `${decision.action} (attempt ${failed.attempt}/${deps.config.retries.maxAttempts}): ${message}`,
      });
    } catch (recordErr) {
      log.error({ err: recordErr }, 'could not record the failure on the node');
    }
    throw new ActionFailedError(node.name, decision.action, terminal, `${node.name}: ${decision.action} failed: ${message}`, { cause: err });
  }

  const { patch, ...stateUpdates } = updates;
  const fresh = await deps.nodes.get(node.name);
  const completed = completedState({ ...state, ...stateUpdates }, decision.target, now());
  await writeState(fresh, completed, deps, patch);
  const warning = decision.target === 'RolledBack';
  await deps.events.record(node.name, {
    type: warning ? 'Warning' : 'Normal',
    reason: `Migration${decision.target}`,
    message: redactText(warning ? `rolled back: ${completed.rollbackReason ?? decision.reason}` : decision.reason),
  });
  log.info({ phase: decision.target }, 'phase reached');
  return { kind: 'progressed', node: node.name, action: decision.action, phase: decision.target };
}

interface ActionContext {
  node: NodeView;
  state: MigrationState;
  deps: EngineDeps;
  log: Logger;
}

type ActionImpl = (ctx: ActionContext) => Promise<Partial<MigrationState> & { patch?: NodePatch }>;

async function withRemote<T>(ctx: ActionContext, fn: (remote: RemoteHost) => Promise<T>): Promise<T> {
  let remote: RemoteHost;
  try {
    remote = await ctx.deps.connect(ctx.node);
  } catch (err) {
    throw new Error(`cannot reach ${ctx.node.name} over SSH`, { cause: err });
  }
  try {
    return await fn(remote);
  } finally {
    await remote.close().catch((err: unknown) => ctx.log.warn({ err }, 'closing the SSH connection failed'));
  }
}

interface HostPlan {
  facts: HostFacts;
  rendered: RenderedFiles;
  runner: RunnerContext;
}

async function planHost(ctx: ActionContext, remote: RemoteHost): Promise<HostPlan> {
  const backupDir = runBackupDir(ctx.deps.config.backupDir, ctx.state.startedAt);
  const facts = await gatherFacts(remote, ctx.deps.config, backupDir);
  const rendered = renderFiles(facts, ctx.deps.config);
  ctx.deps.observer?.rendered?.(ctx.node.name, rendered);
  return { facts, rendered, runner: { remote, config: ctx.deps.config, backupDir, facts, rendered, log: ctx.log } };
}

function playbookFor(ctx: ActionContext, facts: HostFacts) {
  const source = ctx.state.sourceRuntime ?? detectSourceRuntime(ctx.node, facts);
  return { source, loaded: ctx.deps.playbooks[source] };
}

const ACTIONS: Record<Exclude<ActionName, 'beginRollback' | 'fail'>, ActionImpl> = {
  async preflight(ctx) {
    return withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote);
      const { source, loaded } = playbookFor(ctx, host.facts);
      const results = [
        ...preflightChecks(host.facts, ctx.deps.config, source, host.rendered),
        ...(await runAsserts(loaded.playbook.preflight, host.runner)),
      ];
      ctx.deps.observer?.preflight?.(ctx.node.name, results);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) {
        throw new TerminalError(`checks failed: ${failed.map((r) => `${r.name}: ${r.message}`).join('; ')}`);
      }
      return { sourceRuntime: source };
    });
  },

  async cordon(ctx) {
    if (!ctx.node.unschedulable) await ctx.deps.nodes.patch(ctx.node.name, { unschedulable: true });
    return {};
  },

  async drain(ctx) {
    if (!ctx.node.unschedulable) await ctx.deps.nodes.patch(ctx.node.name, { unschedulable: true });
    await drainNode({
      nodeName: ctx.node.name,
      config: ctx.deps.config,
      evictor: ctx.deps.evictor,
      clock: ctx.deps.clock,
      log: ctx.log,
      onBlocked: async (blockers) => {
        const text = describeBlockers(blockers);
        await ctx.deps.nodes.patch(ctx.node.name, { annotations: { [ANNOTATIONS.blockedBy]: text === '' ? null : redactText(text).slice(0, 1024) } });
        if (text !== '') await ctx.deps.events.record(ctx.node.name, { type: 'Warning', reason: 'DrainBlocked', message: `waiting for: ${text}` });
      },
    });
    return {};
  },

  async configureRuntime(ctx) {
    return withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote);
      await runStage(playbookFor(ctx, host.facts).loaded.playbook, 'runtime', host.runner);
      return {};
    });
  },

  async switchKubelet(ctx) {
    await withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote);
      await runStage(playbookFor(ctx, host.facts).loaded.playbook, 'kubelet', host.runner);
    });
    // `kubeadm upgrade` reads the runtime from this annotation.
    return { patch: { annotations: { [KUBEADM_CRI_SOCKET_ANNOTATION]: CONTAINERD_SOCKET } } };
  },

  async verify(ctx) {
    const { config, nodes, smoke } = ctx.deps;
    try {
      await nodes.waitFor(
        ctx.node.name,
        (n) => n.ready && runtimeOf(n) === 'containerd',
        config.verifyTimeoutSeconds * 1000,
        'Ready with a containerd:// runtime',
      );
      if (config.smoke.enabled) {
        const image = config.smoke.image || (await sandboxImageOf(ctx));
        await smoke.run(ctx.node.name, { image, namespace: config.smoke.namespace, timeoutMs: config.smoke.timeoutSeconds * 1000 });
      }
    } catch (err) {
      // Waiting longer will not help: a node that does not verify is rolled back.
      throw new TerminalError('verification failed', { cause: err });
    }
    return {};
  },

  async uncordon(ctx) {
    if (ctx.state.wasUnschedulable !== true && ctx.node.unschedulable) {
      await ctx.deps.nodes.patch(ctx.node.name, { unschedulable: false });
    }
    return {};
  },

  async finish() {
    return { patch: { labels: { [MIGRATED_LABEL]: MIGRATED_LABEL_VALUE } } };
  },

  async adopt() {
    return { patch: { labels: { [MIGRATED_LABEL]: MIGRATED_LABEL_VALUE } } };
  },

  async rollback(ctx) {
    const { state, deps } = ctx;
    const failed = state.failedPhase;
    const hostTouched = failed !== undefined && forwardIndex(failed) >= forwardIndex('RuntimeConfigured');
    const kubeletTouched = failed !== undefined && forwardIndex(failed) >= forwardIndex('KubeletSwitched');
    if (hostTouched) {
      const stages: Stage[] = kubeletTouched ? ['kubelet', 'runtime'] : ['runtime'];
      await withRemote(ctx, async (remote) => {
        const host = await planHost(ctx, remote);
        await rollbackStages(playbookFor(ctx, host.facts).loaded.playbook, stages, host.runner);
      });
    }
    if (kubeletTouched || ctx.node.annotations[KUBEADM_CRI_SOCKET_ANNOTATION] === CONTAINERD_SOCKET) {
      const previous = state.previousCriSocket;
      if (previous !== undefined) {
        await deps.nodes.patch(ctx.node.name, { annotations: { [KUBEADM_CRI_SOCKET_ANNOTATION]: previous === '' ? null : previous } });
      }
    }
    if (hostTouched) {
      await deps.nodes.waitFor(
        ctx.node.name,
        (n) => n.ready && runtimeOf(n) === 'docker',
        deps.config.verifyTimeoutSeconds * 1000,
        'Ready again with the docker:// runtime',
      );
    }
    const current = await deps.nodes.get(ctx.node.name);
    if (state.wasUnschedulable !== true && current.unschedulable) {
      await deps.nodes.patch(ctx.node.name, { unschedulable: false });
    }
    return {};
  },
};

async function sandboxImageOf(ctx: ActionContext): Promise<string> {
  return withRemote(ctx, async (remote) => (await planHost(ctx, remote)).rendered.sandboxImage);
}
