// Applies the state machine's decisions through the ports. reconcileNode is the one entry point
// the controller, the CLI and the dry-run plan all use; a dry run passes recording ports.
//
// Every write of the migration state is one compare-and-swap that also renews this actor's
// claim on the node (domain/claim.ts), so a step is never taken by two actors, and a failed
// attempt records when the next one may start (next-attempt-at), which every actor honours.
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
import { CLAIM_ANNOTATIONS, claimAnnotations, ClaimHeldError, ClaimLostError, claimVerdict, describeClaim, parseClaim, RELEASED_CLAIM, type Actor } from '../domain/claim.js';
import { causedBy, errorChain, HostStartingError, isTerminal, TerminalError, UnavailableError } from '../domain/errors.js';
import { matchesSelector } from '../domain/selector.js';
import { applyPatch } from '../domain/node-patch.js';
import { forwardIndex, TERMINAL_PHASES, type MigrationState, type NodePatch, type NodeView, type Phase } from '../domain/types.js';
import { describeBlockers, drainNode } from '../drain/drain.js';
import { detectSourceRuntime, gatherFacts, type HostFacts } from '../host/facts.js';
import { renderFiles, type RenderedFiles } from '../host/files.js';
import { ensureBackup, recordImagesToCarry, rollbackStages, runAsserts, runBackupDir, runDuringDrain, runStage, type RunnerContext, type Stage } from '../host/playbook-runner.js';
import { preflightChecks } from '../host/preflight.js';
import { nodeLogger, redactText, type Logger } from '../log.js';
import type { PlaybookSet } from '../playbooks/loader.js';
import {
  StaleStateError,
  type Clock,
  type EventRecorder,
  type NodeApi,
  type PodEvictor,
  type RemoteConnector,
  type RemoteHost,
  type ControlPlaneApi,
  type RolloutStore,
  type SmokeTester,
} from '../ports.js';
import { STATIC_COMPONENTS } from '../domain/static-pods.js';
import { completedState, decide, isControlPlane, isMigrating, runtimeOf, type ActionName, type Decision } from './decide.js';
import type { GateReason } from './rollout.js';
import { clusterView } from './view.js';
import type { Mutex } from './mutex.js';
import type { EngineObserver, Outcome } from './observer.js';
import { ActionFailedError, backoffMs, unavailableBackoffMs } from './retry.js';

export { ActionFailedError } from './retry.js';

export interface EngineDeps {
  config: Config;
  nodes: NodeApi;
  evictor: PodEvictor;
  events: EventRecorder;
  smoke: SmokeTester;
  connect: RemoteConnector;
  /** Rollout-wide facts: pause, blocking pods. */
  rollout: RolloutStore;
  /** The control plane's static pods (etcd members, API servers). */
  controlPlane: ControlPlaneApi;
  playbooks: PlaybookSet;
  clock: Clock;
  log: Logger;
  /** Who acts: written into the node's claim. */
  actor: Actor;
  /** Serialises the admission of Pending nodes, so concurrency holds within this process. */
  admission: Mutex;
  /** The engine's event stream: progress, metrics, plans. */
  observer?: EngineObserver;
  /** Cancels what is in flight (a stopping controller, Ctrl-C). */
  signal?: AbortSignal;
  /** A plan: the mutating ports only record; nothing is started on the side (steps during the drain). */
  dryRun?: true;
}

export type PassResult =
  | { kind: 'progressed'; node: string; action: ActionName; phase: Phase }
  | { kind: 'wait'; node: string; reason: string; requeueAfterMs: number; gate?: GateReason; slot?: true }
  | { kind: 'settled'; node: string; reason: string; phase: Phase | undefined };

/** Hash of what shapes a migration: recorded on the node when it starts. */
export function configHash(config: Config, playbooks: PlaybookSet): string {
  const { log: _log, playbooksDir: _dir, ...relevant } = config;
  return createHash('sha256').update(JSON.stringify(relevant)).update(playbooks.sha256).digest('hex').slice(0, 16);
}

/**
 * One level-triggered pass for one node: read it, decide, and take at most one step. Throws
 * ActionFailedError once the failure is recorded on the node (its next-attempt-at says when to
 * come back), ClaimHeldError when another actor holds the node, other errors when nothing could
 * be recorded.
 */
export async function reconcileNode(name: string, deps: EngineDeps): Promise<PassResult> {
  const log = nodeLogger(deps.log, name);
  const node = await deps.nodes.get(name);
  const parsed = parseState(node.annotations);

  if (parsed.ok && parsed.state.phase === 'Pending' && parsed.state.intent === undefined) {
    // Admission: decide and write the intent under one lock, from a fresh read, so two workers
    // cannot both take the last concurrency slot.
    const admitted = await deps.admission.run(async () => {
      const fresh = await deps.nodes.get(name);
      const freshState = parseState(fresh.annotations);
      const now = deps.clock.now();
      const cluster = await clusterView(deps, fresh, now);
      const d = decide({ node: fresh, state: freshState, cluster }, deps.config, now);
      if (d.kind !== 'act' || !freshState.ok) return { decision: d, state: freshState.ok ? freshState.state : parsed.state, node: fresh };
      const intent = await writeIntent(fresh, freshState.state, d, deps);
      return { decision: d, state: intent.state, node: intent.node };
    });
    deps.observer?.emit({ type: 'decided', node: name, decision: admitted.decision });
    if (admitted.decision.kind !== 'act') return await settleOrWait(admitted.node, admitted.decision, deps, log);
    return await act(admitted.node, admitted.state, admitted.decision, deps, log);
  }

  const ahead = aheadOf(deps);
  const intentAhead = parsed.ok && parsed.state.intent !== undefined && ahead.get(name) === `${parsed.state.intent}@${parsed.state.intentSince?.toISOString()}`;
  ahead.delete(name);
  const decision = decide({ node, state: parsed, intentAhead }, deps.config, deps.clock.now());
  deps.observer?.emit({ type: 'decided', node: name, decision });
  if (decision.kind !== 'act' || !parsed.ok) return await settleOrWait(node, decision, deps, log);
  const intent = await writeIntent(node, parsed.state, decision, deps);
  return await act(intent.node, intent.state, decision, deps, log);
}

/** Intents this actor wrote ahead with a completed phase (followOn), by node: `PHASE@intent-since`. */
const intentsAhead = new WeakMap<EngineDeps, Map<string, string>>();
function aheadOf(deps: EngineDeps): Map<string, string> {
  let m = intentsAhead.get(deps);
  if (!m) intentsAhead.set(deps, (m = new Map()));
  return m;
}

async function settleOrWait(node: NodeView, decision: Decision, deps: EngineDeps, log: Logger): Promise<PassResult> {
  const parsed = parseState(node.annotations);
  if (decision.kind === 'wait') {
    log.info({ reason: decision.reason }, 'waiting');
    // The fleet policy holds the node back: say so on the node (once per reason) for status and describe.
    if (decision.gate && parsed.ok && parsed.state.blockedBy !== decision.reason) {
      await deps.nodes.patch(node.name, { annotations: { [ANNOTATIONS.blockedBy]: redactText(decision.reason).slice(0, 1024) } });
      await deps.events.record(node.name, { type: 'Normal', reason: 'MigrationWaiting', message: decision.reason });
    }
    return {
      kind: 'wait',
      node: node.name,
      reason: decision.reason,
      requeueAfterMs: decision.requeueAfterMs,
      ...(decision.gate ? { gate: decision.gate } : {}),
      ...(decision.slot ? { slot: decision.slot } : {}),
    };
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

/**
 * The guard of every state write: nobody moved this node's state since `expected` was read, and
 * the claim is ours, free, or one this actor may take over. A lost race is StaleStateError (read
 * again); another holder is ClaimHeldError.
 */
function guardFor(expected: NodeView, deps: EngineDeps) {
  const keys = [ANNOTATIONS.phase, ANNOTATIONS.intent, ANNOTATIONS.attempt];
  return (fresh: NodeView) => {
    const verdict = claimVerdict(fresh.annotations, deps.actor, deps.clock.now());
    if (verdict.kind === 'held') throw heldError(fresh.name, verdict.by, verdict.expired, deps);
    return keys.every((k) => fresh.annotations[k] === expected.annotations[k]);
  };
}

function heldError(node: string, claim: NonNullable<ReturnType<typeof parseClaim>>, expired: boolean, deps: EngineDeps): ClaimHeldError {
  const now = deps.clock.now();
  const what = expired
    ? `its claim expired; ${deps.actor.identity.startsWith('cli@') ? 'take it over with --force if that actor is gone' : 'it can be taken over'}`
    : 'wait for it to finish, or stop that actor first';
  return new ClaimHeldError(node, claim, expired, `${node} is held by ${describeClaim(claim, now)}: ${what}`);
}

/**
 * The claim annotations this write carries: renewed while migrating, released at a terminal phase
 * and when the node goes back to Pending (its concurrency slot freed), except by a `migrate` that
 * will try again after the backoff: the node it was asked to migrate stays its own meanwhile.
 */
function claimPatch(node: NodeView, next: MigrationState, deps: EngineDeps): Record<string, string | null> {
  const retrying = deps.actor.kind === 'cli' && next.nextAttemptAt !== undefined;
  if (TERMINAL_PHASES.includes(next.phase) || (next.phase === 'Pending' && next.intent === undefined && !retrying)) {
    return parseClaim(node.annotations) ? { ...RELEASED_CLAIM } : {};
  }
  const current = parseClaim(node.annotations);
  const since = current?.holder === deps.actor.identity ? current.since : deps.clock.now();
  return claimAnnotations(deps.actor, deps.clock.now(), since);
}

async function writeState(node: NodeView, next: MigrationState, deps: EngineDeps, extra: NodePatch = {}): Promise<NodeView> {
  const annotations = { ...stateDiff(node.annotations, next), ...claimPatch(node, next, deps), ...extra.annotations };
  const patch: NodePatch = { ...extra, annotations };
  return deps.nodes.patch(node.name, patch, { guard: guardFor(node, deps) });
}

async function writeIntent(node: NodeView, state: MigrationState, decision: Extract<Decision, { kind: 'act' }>, deps: EngineDeps) {
  // Pure state transitions have no side effect to protect with an intent.
  if (decision.action === 'beginRollback' || decision.action === 'fail') return { node, state };
  const { next, unselected } = intentState(node, state, decision, deps);
  // Written ahead with the phase before it (followOn), under a claim this actor renewed moments
  // ago: nothing to write, and no other actor can have taken the node since.
  if (Object.keys(stateDiff(node.annotations, next)).length === 0 && claimFresh(node, deps)) return { node, state: next };
  const written = await writeState(node, next, deps);
  if (unselected) await reportUnselected(node.name, deps);
  return { node: written, state: next };
}

/** This actor holds the node's claim and renewed it less than a third of its lease ago. */
function claimFresh(node: NodeView, deps: EngineDeps): boolean {
  const claim = parseClaim(node.annotations);
  if (!claim || claim.holder !== deps.actor.identity) return false;
  return deps.clock.now().getTime() - claim.renewedAt.getTime() < (claim.leaseSeconds * 1000) / 3;
}

/** The state with `decision`'s intent recorded, and whether the node lost its label mid-migration just now. */
function intentState(node: NodeView, state: MigrationState, decision: Extract<Decision, { kind: 'act' }>, deps: EngineDeps) {
  const now = deps.clock.now();
  const next: MigrationState = { ...state, intent: decision.target };
  if (state.intent !== decision.target) next.intentSince = now;
  delete next.nextAttemptAt;
  if (decision.action === 'preflight') {
    next.startedAt ??= now;
    // Remembered before we touch the node, so rollback undoes only what we did.
    next.wasUnschedulable ??= node.unschedulable;
    next.previousCriSocket ??= node.annotations[KUBEADM_CRI_SOCKET_ANNOTATION] ?? '';
    next.configHash = configHash(deps.config, deps.playbooks);
  }
  const unselected = isMigrating(next) && next.unselectedAt === undefined && !matchesSelector(node.labels, deps.config.selector);
  if (unselected) next.unselectedAt = now;
  return { next, unselected };
}

async function reportUnselected(node: string, deps: EngineDeps): Promise<void> {
  const message = 'label removed: finishing the migration already under way; it will not be repeated';
  nodeLogger(deps.log, node).warn({ selector: deps.config.selector }, message);
  deps.observer?.emit({ type: 'unselected', node });
  await deps.events.record(node, { type: 'Warning', reason: 'MigrationLabelRemoved', message: `${message} (selector ${deps.config.selector})` });
}

/**
 * The forward step that follows a completed phase at once (no wait, no repair, not terminal): its
 * intent goes into the same write as the completed phase, so a phase costs one node write, not
 * two. The next pass takes the step; until then nothing of it has run, and that pass does not
 * call it resuming (intentsAhead). A crash in between leaves a recorded intent, resumed as any.
 */
function followOn(node: NodeView, completed: MigrationState, patch: NodePatch | undefined, deps: EngineDeps): Extract<Decision, { kind: 'act' }> | undefined {
  if (TERMINAL_PHASES.includes(completed.phase) || deps.signal?.aborted) return undefined;
  const after = patch ? applyPatch(node, patch) : node;
  const d = decide({ node: after, state: { ok: true, state: completed } }, deps.config, deps.clock.now());
  if (d.kind !== 'act' || d.action === 'beginRollback' || d.action === 'fail' || d.target === completed.phase) return undefined;
  return d;
}

function outcomeOf(phase: Phase): Outcome | undefined {
  return phase === 'Succeeded' ? 'succeeded' : phase === 'RolledBack' ? 'rolled_back' : phase === 'Failed' ? 'failed' : undefined;
}

function emitFinished(deps: EngineDeps, node: string, state: MigrationState): void {
  const outcome = outcomeOf(state.phase);
  if (!outcome) return;
  const durationMs = state.startedAt && state.finishedAt ? state.finishedAt.getTime() - state.startedAt.getTime() : undefined;
  deps.observer?.emit({ type: 'finished', node, outcome, durationMs });
}

async function act(
  node: NodeView,
  state: MigrationState,
  decision: Extract<Decision, { kind: 'act' }>,
  deps: EngineDeps,
  log: Logger,
): Promise<PassResult> {
  const now = () => deps.clock.now();
  const started = now().getTime();
  log.info({ action: decision.action, target: decision.target, reason: decision.reason }, 'acting');

  if (decision.action === 'beginRollback') {
    const next: MigrationState = { ...state, phase: 'RollingBack', attempt: 0, rollbackReason: state.lastError ?? decision.reason };
    if (state.intent !== undefined) next.failedPhase = state.intent;
    delete next.intent;
    delete next.nextAttemptAt;
    delete next.unavailableAttempts;
    await writeState(node, next, deps);
    await deps.events.record(node.name, { type: 'Warning', reason: 'MigrationRollingBack', message: redactText(decision.reason) });
    deps.observer?.emit({ type: 'phase', node: node.name, action: decision.action, phase: 'RollingBack', tookMs: 0 });
    return { kind: 'progressed', node: node.name, action: decision.action, phase: 'RollingBack' };
  }
  if (decision.action === 'fail') {
    const next: MigrationState = { ...state, phase: 'Failed', finishedAt: now(), rollbackReason: state.rollbackReason ?? decision.reason };
    if (state.intent !== undefined) next.failedPhase ??= state.intent;
    delete next.intent;
    delete next.nextAttemptAt;
    await writeState(node, next, deps, withHalt(undefined, next, deps));
    const files = state.backupDir
      ? `the original files are in ${state.backupDir} on the node`
      : 'no file on the node had been changed (no backup was taken)';
    await deps.events.record(node.name, {
      type: 'Warning',
      reason: 'MigrationFailed',
      message: redactText(`${decision.reason}. The node needs a human; ${files}`),
    });
    deps.observer?.emit({ type: 'phase', node: node.name, action: decision.action, phase: 'Failed', tookMs: 0 });
    emitFinished(deps, node.name, next);
    return { kind: 'progressed', node: node.name, action: decision.action, phase: 'Failed' };
  }

  // While the action runs its claim is renewed; losing it cancels the action.
  const progress: Partial<MigrationState> = {};
  const claim = keepClaim(node.name, deps);
  let updates: Partial<MigrationState> & { patch?: NodePatch };
  try {
    updates = await ACTIONS[decision.action]({ node, state, deps, log, progress, signal: claim.signal });
  } catch (err) {
    await claim.stop();
    throw await recordFailure(node, state, decision, { ...state, ...progress }, claim.lost ?? err, deps, log);
  }
  await claim.stop();

  const { patch, ...stateUpdates } = updates;
  const fresh = await deps.nodes.get(node.name);
  const completed = completedState({ ...state, ...progress, ...stateUpdates }, decision.target, now());
  const follow = followOn(fresh, completed, patch, deps);
  const ahead = follow ? intentState(applyPatch(fresh, patch ?? {}), completed, follow, deps) : undefined;
  await writeState(fresh, ahead?.next ?? completed, deps, withHalt(patch, completed, deps));
  const warning = decision.target === 'RolledBack';
  await deps.events.record(node.name, {
    type: warning ? 'Warning' : 'Normal',
    reason: `Migration${decision.target}`,
    message: redactText(warning ? `rolled back: ${completed.rollbackReason ?? decision.reason}` : decision.reason),
  });
  log.info({ phase: decision.target }, 'phase reached');
  deps.observer?.emit({ type: 'phase', node: node.name, action: decision.action, phase: decision.target, tookMs: now().getTime() - started });
  emitFinished(deps, node.name, completed);
  if (ahead) {
    if (ahead.next.intentSince) aheadOf(deps).set(node.name, `${ahead.next.intent}@${ahead.next.intentSince.toISOString()}`);
    if (ahead.unselected) await reportUnselected(node.name, deps);
  }
  return { kind: 'progressed', node: node.name, action: decision.action, phase: decision.target };
}

/** A migration that ended RolledBack or Failed halts the rollout (rollout.haltOnFailure): the mark goes with the final state. */
function withHalt(patch: NodePatch | undefined, state: MigrationState, deps: EngineDeps): NodePatch | undefined {
  if (!deps.config.rollout.haltOnFailure || (state.phase !== 'RolledBack' && state.phase !== 'Failed')) return patch;
  const why = `ended ${state.phase} at ${(state.finishedAt ?? deps.clock.now()).toISOString()}: ${state.rollbackReason ?? state.lastError ?? 'no reason recorded'}`;
  return { ...patch, annotations: { ...patch?.annotations, [ANNOTATIONS.halt]: redactText(why).slice(0, 512) } };
}

/**
 * Records a failed attempt on the node and returns the error to throw: ActionFailedError when it
 * is recorded (its next-attempt-at is on the node), the claim error when another actor took the
 * node, or the cause itself when nothing could be written.
 */
async function recordFailure(
  node: NodeView,
  state: MigrationState,
  decision: Extract<Decision, { kind: 'act' }>,
  base: MigrationState,
  err: unknown,
  deps: EngineDeps,
  log: Logger,
): Promise<Error> {
  if (err instanceof ClaimLostError) return err;
  // Cancelled (the controller stops or lost its Lease, Ctrl-C): not the step's failure. The intent
  // stays on the node and the next actor resumes it.
  if (deps.signal?.aborted) return new Error(`${node.name}: ${decision.action} was cancelled`, { cause: deps.signal.reason });
  const { retries } = deps.config;
  const now = deps.clock.now();
  const terminal = isTerminal(err);
  const unavailable = !terminal && causedBy(err, UnavailableError) !== undefined;
  const message = redactText(errorChain(err));
  log.error({ err, action: decision.action, terminal, unavailable }, 'action failed');

  let failed: MigrationState;
  if (unavailable) {
    // Not the step's fault: retried until the API server or sshd answers, not counted.
    const n = (state.unavailableAttempts ?? 0) + 1;
    const nextAttemptAt = new Date(now.getTime() + unavailableBackoffMs(n, retries));
    if (decision.action === 'preflight') {
      // Nothing was changed yet: the node goes back to Pending, blocked, and frees its slot.
      failed = { phase: 'Pending', attempt: 0, unavailableAttempts: n, nextAttemptAt, blockedBy: message, lastError: `${decision.action}: ${message}` };
    } else {
      failed = { ...base, unavailableAttempts: n, nextAttemptAt, lastError: `${decision.action}: ${message}` };
    }
  } else {
    const attempt = terminal ? Math.max(retries.maxAttempts, state.attempt + 1) : state.attempt + 1;
    failed = { ...base, attempt, lastError: `${decision.action}: ${message}` };
    if (attempt < retries.maxAttempts) failed.nextAttemptAt = new Date(now.getTime() + backoffMs(attempt, retries));
    else delete failed.nextAttemptAt; // exhausted: the next pass rolls back at once
  }
  deps.observer?.emit({
    type: 'stepFailed',
    node: node.name,
    action: decision.action,
    attempt: failed.attempt,
    maxAttempts: retries.maxAttempts,
    message,
    terminal,
    unavailable,
    nextAttemptAt: failed.nextAttemptAt,
  });
  try {
    const fresh = await deps.nodes.get(node.name);
    await writeState(fresh, failed, deps);
  } catch (recordErr) {
    log.error({ err: recordErr }, 'could not record the failure on the node');
    const lostClaim = causedBy(recordErr, ClaimLostError);
    if (lostClaim) return lostClaim;
    return new Error(`${node.name}: ${decision.action} failed (${message}) and the failure could not be recorded`, { cause: recordErr });
  }
  const next = failed.nextAttemptAt ? `; next attempt at ${failed.nextAttemptAt.toISOString()}` : '';
  const counted = unavailable ? 'not counted as an attempt' : `attempt ${failed.attempt}/${retries.maxAttempts}`;
  await deps.events
    .record(node.name, {
      type: 'Warning',
      reason: decision.action === 'preflight' && unavailable ? 'MigrationBlocked' : 'MigrationStepFailed',
      message: `${decision.action} (${counted}): ${message}${next}`,
    })
    .catch((eventErr: unknown) => log.warn({ err: eventErr }, 'recording the failure event failed'));
  return new ActionFailedError(node.name, decision.action, terminal, `${node.name}: ${decision.action} failed: ${message}`, { cause: err });
}

/**
 * Sleep through a wait without letting this actor's claim on the node lapse: a `migrate` waiting
 * for a slot or a backoff keeps the node it was asked to migrate (the controller would otherwise
 * take it over once the claim expired). Ends early when the claim is lost.
 */
export async function sleepHoldingClaim(name: string, deps: EngineDeps, ms: number, signal?: AbortSignal): Promise<void> {
  const node = await deps.nodes.get(name);
  if (claimVerdict(node.annotations, deps.actor, deps.clock.now()).kind !== 'ours') return deps.clock.sleep(ms, signal);
  const claim = keepClaim(name, deps);
  const both = signal ? AbortSignal.any([signal, claim.signal]) : claim.signal;
  try {
    await deps.clock.sleep(ms, both).catch((err: unknown) => {
      if (signal?.aborted) throw err; // Ctrl-C; a lost claim just ends the wait (the next pass says who holds it)
    });
  } finally {
    await claim.stop();
  }
}

/**
 * Renews this actor's claim while an action runs (every third of the lease). When another actor
 * has taken the node, or the claim cannot be renewed before it expires, the signal aborts the
 * action and `lost` says why.
 */
function keepClaim(name: string, deps: EngineDeps): { signal: AbortSignal; readonly lost: Error | undefined; stop(): Promise<void> } {
  const cancel = new AbortController();
  const done = new AbortController();
  const onOuter = () => cancel.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onOuter, { once: true });
  let lost: Error | undefined;
  const intervalMs = Math.max(1_000, Math.floor((deps.actor.leaseSeconds * 1000) / 3));
  let lastRenewed = deps.clock.now().getTime();
  const loop = (async () => {
    for (;;) {
      try {
        await deps.clock.sleep(intervalMs, done.signal);
      } catch {
        return;
      }
      try {
        await deps.nodes.patch(name, { annotations: { [CLAIM_ANNOTATIONS.renewedAt]: deps.clock.now().toISOString() } }, {
          guard: (fresh) => {
            const verdict = claimVerdict(fresh.annotations, deps.actor, deps.clock.now());
            if (verdict.kind === 'held') throw heldError(name, verdict.by, verdict.expired, deps);
            return verdict.kind === 'ours';
          },
        });
        lastRenewed = deps.clock.now().getTime();
      } catch (err) {
        const held = causedBy(err, ClaimHeldError);
        if (held || causedBy(err, StaleStateError)) {
          // Another actor took the node, or someone removed our claim: stop acting on it.
          lost = held ?? new ClaimLostError(name, `${name}: the claim of ${deps.actor.identity} was removed while acting; stopping`, { cause: err });
          cancel.abort(lost);
          return;
        }
        // The API server did not answer: keep trying until the lease would run out.
        if (deps.clock.now().getTime() - lastRenewed >= deps.actor.leaseSeconds * 1000) {
          nodeLogger(deps.log, name).warn({ err }, 'could not renew the claim within its lease; going on, the next state write checks it');
          lastRenewed = deps.clock.now().getTime();
        }
      }
    }
  })();
  return {
    signal: cancel.signal,
    get lost() {
      return lost;
    },
    async stop() {
      done.abort();
      deps.signal?.removeEventListener('abort', onOuter);
      await loop;
    },
  };
}

interface ActionContext {
  node: NodeView;
  state: MigrationState;
  deps: EngineDeps;
  log: Logger;
  /** What the action established before it ended, kept on the node even if it fails later. */
  progress: Partial<MigrationState>;
  signal: AbortSignal;
}

type ActionImpl = (ctx: ActionContext) => Promise<Partial<MigrationState> & { patch?: NodePatch }>;

async function withRemote<T>(ctx: ActionContext, fn: (remote: RemoteHost) => Promise<T>): Promise<T> {
  ctx.signal.throwIfAborted();
  let remote: RemoteHost;
  try {
    remote = await ctx.deps.connect(ctx.node);
  } catch (err) {
    throw new Error(`cannot reach ${ctx.node.name} over SSH`, { cause: err });
  }
  // A cancelled action (claim lost, controller stopping) stops at its next remote command.
  const onAbort = () => void remote.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(remote);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await remote.close().catch((err: unknown) => ctx.log.warn({ err }, 'closing the SSH connection failed'));
  }
}

interface HostPlan {
  facts: HostFacts;
  rendered: RenderedFiles;
  runner: RunnerContext;
}

/**
 * The facts the last stage of a run read on a node, by node, for the stage right after it in the
 * same process: what the kubelet stage renders comes from the original files (read from the
 * run's backup) and the configuration, as in the runtime stage just before it, so it does not
 * read them again (the runtime stage of a single control plane already runs both on one read);
 * the smoke pod's image is the sandbox image rendered from them. A run resumed by another process,
 * rolled back, started again or taken up more than FACTS_REUSE_MS later reads afresh.
 */
const lastFacts = new WeakMap<EngineDeps, Map<string, { run: string; stage: FactsStage; at: number; facts: HostFacts; rendered: RenderedFiles }>>();
/** Whose facts an entry holds: Preflight's serve the carry started beside the drain. */
type FactsStage = 'preflight' | 'runtime' | 'kubelet';
/** A stage that follows its predecessor later than this (another actor took over meanwhile, say) reads afresh. */
const FACTS_REUSE_MS = 5 * 60_000;
function factsMemo(deps: EngineDeps) {
  let m = lastFacts.get(deps);
  if (!m) lastFacts.set(deps, (m = new Map()));
  return m;
}
function runKey(ctx: ActionContext): string {
  return `${ctx.state.startedAt?.toISOString() ?? ''}`;
}
function remember(ctx: ActionContext, stage: FactsStage, host: HostPlan): void {
  const m = factsMemo(ctx.deps);
  m.delete(ctx.node.name);
  m.set(ctx.node.name, { run: runKey(ctx), stage, at: ctx.deps.clock.now().getTime(), facts: host.facts, rendered: host.rendered });
  // Verification takes its entry; a run abandoned between the stages leaves one: at most 64 kept.
  for (const name of m.keys()) {
    if (m.size <= 64) break;
    m.delete(name);
  }
}
function recall(ctx: ActionContext, after: FactsStage): { facts: HostFacts; rendered: RenderedFiles } | undefined {
  const m = factsMemo(ctx.deps).get(ctx.node.name);
  const fresh = m !== undefined && ctx.deps.clock.now().getTime() - m.at <= FACTS_REUSE_MS;
  return fresh && m.run === runKey(ctx) && m.stage === after ? m : undefined;
}

async function planHost(ctx: ActionContext, remote: RemoteHost, known?: { facts: HostFacts; rendered: RenderedFiles }): Promise<HostPlan> {
  const backupDir = runBackupDir(ctx.deps.config.backupDir, ctx.state.startedAt);
  let facts: HostFacts;
  let rendered: RenderedFiles;
  if (known) {
    ({ facts, rendered } = known);
    ctx.log.info('facts of the stage before reused');
  } else {
    const started = performance.now();
    facts = await gatherFacts(remote, ctx.deps.config, backupDir);
    ctx.log.info({ ms: Math.round(performance.now() - started) }, 'facts gathered');
    rendered = renderFiles(facts, ctx.deps.config);
  }
  ctx.deps.observer?.emit({ type: 'rendered', node: ctx.node.name, rendered });
  const onProgress = (message: string, final?: boolean) => {
    ctx.deps.observer?.emit({ type: 'progress', node: ctx.node.name, message });
    // The closing figure of a long step goes on the node too (kubectl describe node).
    if (final) {
      void ctx.deps.events.record(ctx.node.name, { type: 'Normal', reason: 'MigrationImagesCarried', message }).catch(() => undefined);
    }
  };
  return { facts, rendered, runner: { remote, config: ctx.deps.config, backupDir, facts, rendered, log: ctx.log, onProgress } };
}

function playbookFor(ctx: ActionContext, facts: HostFacts) {
  const source = ctx.state.sourceRuntime ?? detectSourceRuntime(ctx.node, facts);
  return { source, playbook: ctx.deps.playbooks.forSource(source) };
}

/**
 * The playbook's steps that may start while the node drains (duringDrain: the image carry-over),
 * over the node's SSH connection beside the drain. Best effort: what fails or is cut short here,
 * the step's own stage does again and reports. Not in a dry run: the plan shows the step once, in
 * its stage. done(): once the drain is over, the work already under way is waited for (the stage
 * would do the same work); a connection not yet made is given up.
 */
function startDuringDrain(ctx: ActionContext): { cancel(): void; done(): Promise<void> } {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  let working = false;
  const work = ctx.deps.dryRun
    ? Promise.resolve()
    : withRemote({ ...ctx, signal }, async (remote) => {
        signal.throwIfAborted(); // given up while connecting
        working = true;
        // Preflight's facts, read moments ago in this process, name the images to carry. Read
        // again while the kubelet stops the node's pods, they took 8.9 s where a settled node
        // answers in 0.8 s (npm run bench, 20 pods), and the carry waited for them. The runtime
        // stage reads afresh and carries whatever this missed.
        const host = await planHost(ctx, remote, recall(ctx, 'preflight'));
        const { playbook } = playbookFor(ctx, host.facts);
        const reports = await runDuringDrain(playbook, host.runner);
        if (reports.length > 0) ctx.log.info({ steps: reports }, 'steps started during the drain');
      }).catch((err: unknown) => {
        if (!signal.aborted) ctx.log.warn({ err }, 'a step started during the drain failed; its stage runs it again');
      });
  return {
    cancel: () => stop.abort(new Error('the drain failed')),
    async done() {
      // Not connected yet (sshd slow or down): given up, and not waited for.
      if (!working) return stop.abort(new Error('the drain is over before the connection was made'));
      await work;
    },
  };
}

const ACTIONS: Record<Exclude<ActionName, 'beginRollback' | 'fail'>, ActionImpl> = {
  async preflight(ctx) {
    return withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote);
      const { source, playbook } = playbookFor(ctx, host.facts);
      const results = [...preflightChecks(host.facts, ctx.deps.config, source, host.rendered), ...(await runAsserts(playbook, host.runner))];
      ctx.deps.observer?.emit({ type: 'preflight', node: ctx.node.name, results });
      const failed = results.filter((r) => !r.ok);
      const why = `checks failed: ${failed.map((r) => `${r.name}: ${r.message}`).join('; ')}`;
      // A node still booting (after a power loss, say) is waited for, like one whose sshd is down.
      if (failed.length > 0 && failed.every((r) => r.transient)) throw new HostStartingError(why);
      if (failed.length > 0) throw new TerminalError(why);
      await recordImagesToCarry(host.runner);
      remember(ctx, 'preflight', host);
      // What cannot be carried over from the node's Docker settings is said, not dropped silently.
      const warnings = results.filter((r) => r.severity === 'warning');
      if (warnings.length > 0) {
        await ctx.deps.events.record(ctx.node.name, {
          type: 'Warning',
          reason: 'PreflightWarning',
          message: redactText(warnings.map((w) => `${w.name}: ${w.message}`).join('; ')).slice(0, 1024),
        });
        return { sourceRuntime: source, warnings: warnings.map((w) => `${w.name}: ${w.message}`).join('; ') };
      }
      return { sourceRuntime: source };
    });
  },

  async cordon(ctx) {
    // Cordoned in the same write that records the phase: one request, and never one without the other.
    return ctx.node.unschedulable ? {} : { patch: { unschedulable: true } };
  },

  async drain(ctx) {
    if (!ctx.node.unschedulable) await ctx.deps.nodes.patch(ctx.node.name, { unschedulable: true });
    const since = ctx.state.intentSince ?? ctx.deps.clock.now();
    // Started once the pods are found evictable: a refused drain touches nothing on the host.
    let during: ReturnType<typeof startDuringDrain> | undefined;
    try {
      await drainNode({
        nodeName: ctx.node.name,
        deadline: new Date(since.getTime() + ctx.deps.config.drain.timeoutSeconds * 1000),
        config: ctx.deps.config,
        evictor: ctx.deps.evictor,
        clock: ctx.deps.clock,
        log: ctx.log,
        signal: ctx.signal,
        onBlocked: async (blockers) => {
          ctx.deps.observer?.emit({ type: 'drainBlocked', node: ctx.node.name, blockers });
          const text = describeBlockers(blockers);
          await ctx.deps.nodes.patch(ctx.node.name, { annotations: { [ANNOTATIONS.blockedBy]: text === '' ? null : redactText(text).slice(0, 1024) } });
          if (text !== '') await ctx.deps.events.record(ctx.node.name, { type: 'Warning', reason: 'DrainBlocked', message: `waiting for: ${text}` });
        },
        onEvicting: () => {
          during ??= startDuringDrain(ctx);
        },
      });
    } catch (err) {
      during?.cancel();
      throw err;
    } finally {
      await during?.done();
    }
    return {};
  },

  async configureRuntime(ctx) {
    // A single control plane's API server stops with Docker in this stage and comes back only
    // when the kubelet runs on containerd: nothing could record this step's end in between, so
    // the kubelet stage runs here too (the next step finds it done and records it).
    const single = await isSingleControlPlane(ctx);
    return withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote);
      await ensureBackup(host.runner);
      ctx.progress.backupDir = host.runner.backupDir;
      const { playbook } = playbookFor(ctx, host.facts);
      await runStage(playbook, 'runtime', host.runner);
      if (single) {
        ctx.deps.observer?.emit({ type: 'progress', node: ctx.node.name, message: 'single control plane: starting the kubelet on containerd in the same step (its API server is down until then)' });
        await runStage(playbook, 'kubelet', host.runner);
      }
      remember(ctx, single ? 'kubelet' : 'runtime', host);
      return {};
    });
  },

  async switchKubelet(ctx) {
    await withRemote(ctx, async (remote) => {
      const host = await planHost(ctx, remote, recall(ctx, 'runtime'));
      await runStage(playbookFor(ctx, host.facts).playbook, 'kubelet', host.runner);
      remember(ctx, 'kubelet', host);
    });
    // `kubeadm upgrade` reads the runtime from this annotation.
    return { patch: { annotations: { [KUBEADM_CRI_SOCKET_ANNOTATION]: CONTAINERD_SOCKET } } };
  },

  async verify(ctx) {
    const { config, nodes, smoke } = ctx.deps;
    const started = performance.now();
    if (!config.smoke.enabled || config.smoke.image) factsMemo(ctx.deps).delete(ctx.node.name);
    // The node's waits settle this: the smoke pod's time limit runs from then, or it is given up.
    let nodeVerified!: () => void;
    let nodeFailed!: (err: unknown) => void;
    const verified = new Promise<void>((resolve, reject) => {
      nodeVerified = resolve;
      nodeFailed = reject;
    });
    verified.catch(() => undefined);
    // The smoke pod is created at once: it is bound to the node, whose kubelet (on containerd since
    // the stage before) starts it while the node reports Ready, so the two waits overlap.
    const smokeRun = config.smoke.enabled
      ? settle(
          (async () => {
            const image = config.smoke.image || (await sandboxImageOf(ctx));
            await smoke.run(ctx.node.name, { image, namespace: config.smoke.namespace, timeoutMs: config.smoke.timeoutSeconds * 1000, after: verified });
            ctx.log.info({ ms: Math.round(performance.now() - started) }, 'smoke pod Running');
          })(),
        )
      : undefined;
    try {
      // From the node this pass read (after the kubelet's restart on containerd, which only the
      // new kubelet can report): no second read before the watch.
      await nodes.waitFor(
        ctx.node.name,
        (n) => n.ready && runtimeOf(n) === 'containerd',
        config.verifyTimeoutSeconds * 1000,
        'Ready with a containerd:// runtime',
        ctx.node,
      );
      ctx.log.info({ ms: Math.round(performance.now() - started) }, 'node Ready on containerd');
      await staticPodsSettle(ctx, 'containerd');
      nodeVerified();
      const outcome = await smokeRun;
      if (outcome && !outcome.ok) throw outcome.error;
    } catch (err) {
      nodeFailed(err);
      await smokeRun; // its pod deleted
      // The API server not answering is not the node's fault: retried, not rolled back.
      if (causedBy(err, UnavailableError)) throw err;
      // Waiting longer will not help: a node that does not verify is rolled back.
      throw new TerminalError('verification failed', { cause: err });
    }
    return {};
  },

  async uncordon(ctx) {
    // Uncordoned in the write that records Uncordoned, as the cordon was.
    return ctx.state.wasUnschedulable !== true && ctx.node.unschedulable ? { patch: { unschedulable: false } } : {};
  },

  async finish() {
    return { patch: { labels: { [MIGRATED_LABEL]: MIGRATED_LABEL_VALUE } } };
  },

  async adopt() {
    return { patch: { labels: { [MIGRATED_LABEL]: MIGRATED_LABEL_VALUE } } };
  },

  async rollback(ctx) {
    const { state, deps } = ctx;
    factsMemo(deps).delete(ctx.node.name);
    const failed = state.failedPhase;
    const hostTouched = failed !== undefined && forwardIndex(failed) >= forwardIndex('RuntimeConfigured');
    const kubeletTouched = failed !== undefined && forwardIndex(failed) >= forwardIndex('KubeletSwitched');
    if (hostTouched) {
      const stages: Stage[] = kubeletTouched ? ['kubelet', 'runtime'] : ['runtime'];
      await withRemote(ctx, async (remote) => {
        const host = await planHost(ctx, remote);
        await rollbackStages(playbookFor(ctx, host.facts).playbook, stages, host.runner);
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
      await staticPodsSettle(ctx, 'docker');
    }
    const current = await deps.nodes.get(ctx.node.name);
    if (state.wasUnschedulable !== true && current.unschedulable) {
      await deps.nodes.patch(ctx.node.name, { unschedulable: false });
    }
    return {};
  },
};

/** A promise's outcome as a value: awaited later without an unhandled rejection meanwhile. */
function settle(p: Promise<void>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  return p.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The node is the cluster's only control-plane node: its API server is the only one. */
async function isSingleControlPlane(ctx: ActionContext): Promise<boolean> {
  if (!isControlPlane(ctx.node)) return false;
  return (await ctx.deps.nodes.list()).filter(isControlPlane).length <= 1;
}

/**
 * On a control-plane node, every static pod it runs (etcd, the API server, the controller
 * manager, the scheduler) Ready on `runtime`: etcd healthy again, the node's API server answering
 * /readyz (its readiness probe), before the next node is touched.
 */
async function staticPodsSettle(ctx: ActionContext, runtime: 'docker' | 'containerd'): Promise<void> {
  if (!isControlPlane(ctx.node)) return;
  const { deps } = ctx;
  const components = (await deps.controlPlane.staticPods()).filter((p) => p.node === ctx.node.name && STATIC_COMPONENTS.includes(p.component)).map((p) => p.component);
  await deps.controlPlane.waitForStaticPods(ctx.node.name, runtime, components, deps.config.verifyTimeoutSeconds * 1000, ctx.signal);
}

async function sandboxImageOf(ctx: ActionContext): Promise<string> {
  const known = recall(ctx, 'kubelet');
  factsMemo(ctx.deps).delete(ctx.node.name);
  if (known) return known.rendered.sandboxImage;
  return withRemote(ctx, async (remote) => (await planHost(ctx, remote)).rendered.sandboxImage);
}

