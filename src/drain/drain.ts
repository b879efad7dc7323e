// Drain with kubectl drain's semantics through the ports: every eviction in flight at once, a
// PodDisruptionBudget's 429 means "wait and retry", deletion is observed by watch, and one overall
// deadline bounds it all.
import type { Config } from '../config.js';
import { describeBudget, neverAllowsDisruption, podKey, type BudgetView, type PodView } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { Clock, PodEvictor } from '../ports.js';
import { classifyPods, describeRefusals, type Classified } from './filters.js';
import { TerminalError } from '../domain/errors.js';

export interface Blocker {
  pod: string;
  reason: string;
  budget?: string;
  /** The budget as read when it blocked (undefined when it could not be read). */
  budgetView?: BudgetView;
}

export interface DrainReport {
  classified: Classified;
  evicted: string[];
}

export interface DrainOptions {
  nodeName: string;
  /** Overall end of the drain, across attempts (drain.timeoutSeconds from the first attempt). */
  deadline: Date;
  config: Config;
  evictor: PodEvictor;
  clock: Clock;
  log: Logger;
  /** Called whenever the set of blocking pods changes (empty when nothing blocks any more). */
  onBlocked: (blockers: readonly Blocker[]) => Promise<void>;
  /** Called once the node's pods are found evictable, before the first eviction (not on a refusal). */
  onEvicting?: () => void;
  signal?: AbortSignal;
}

export function describeBlockers(blockers: readonly Blocker[]): string {
  return blockers
    .map((b) => {
      if (b.budgetView) {
        const never = neverAllowsDisruption(b.budgetView) ? ', which allows no disruption even with every pod healthy' : '';
        return `${b.pod} (${describeBudget(b.budgetView)}${never})`;
      }
      return `${b.pod}${b.budget ? ` (PodDisruptionBudget ${b.budget})` : ''}: ${b.reason}`;
    })
    .join('; ');
}

export async function drainNode(options: DrainOptions): Promise<DrainReport> {
  const { config, evictor, clock, nodeName, log } = options;
  const deadline = options.deadline.getTime();
  if (clock.now().getTime() >= deadline) {
    throw new TerminalError(`drain of ${nodeName} timed out: drain.timeoutSeconds (${config.drain.timeoutSeconds}s) passed since its first attempt`);
  }
  const pods = await evictor.listPodsOnNode(nodeName);
  const classified = classifyPods(pods, config.drain, clock.now());
  if (classified.refuse.length > 0) {
    throw new TerminalError(`drain of ${nodeName} refused: ${describeRefusals(classified.refuse)}`);
  }
  options.onEvicting?.();
  for (const { pod, reason } of classified.skip) log.debug({ pod: podKey(pod), reason }, 'not evicting');
  if (classified.evict.length === 0) return { classified, evicted: [] };

  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const deadlineTimer = clock.sleep(deadline - clock.now().getTime(), stop.signal).then(
    () => stop.abort(new Error('drain deadline')),
    () => undefined,
  );
  // Watch for deletions from the start, so none is missed while evictions are being posted.
  const deletion = evictor.waitForDeletion(nodeName, classified.evict, stop.signal);
  // Awaited below; when an eviction throws first (the API server paused), the watch fails on its
  // own afterwards and must not become an unhandled rejection (it killed the controller).
  deletion.catch(() => undefined);

  const budgets = new Map<string, BudgetView | undefined>();
  const readBudget = async (pod: PodView, name: string) => {
    const key = `${pod.namespace}/${name}`;
    if (!budgets.has(key)) budgets.set(key, await evictor.readBudget(pod.namespace, name).catch(() => undefined));
    return budgets.get(key);
  };
  let toEvict: PodView[] = [...classified.evict];
  let lastBlockers = '';
  let blockers: Blocker[] = [];
  try {
    while (toEvict.length > 0 && !stop.signal.aborted) {
      const outcomes = await Promise.all(
        toEvict.map(async (pod) => ({ pod, outcome: await evictor.evict(pod, { gracePeriodSeconds: config.drain.gracePeriodSeconds }) })),
      );
      blockers = [];
      const blocked: PodView[] = [];
      for (const { pod, outcome } of outcomes) {
        if (outcome.kind === 'blocked') {
          blocked.push(pod);
          const budgetView = outcome.budget ? await readBudget(pod, outcome.budget) : undefined;
          blockers.push({ pod: podKey(pod), reason: outcome.reason, ...(outcome.budget ? { budget: outcome.budget } : {}), ...(budgetView ? { budgetView } : {}) });
        }
      }
      const summary = describeBlockers(blockers);
      if (summary !== lastBlockers) {
        lastBlockers = summary;
        budgets.clear(); // read again next time the set changes: the budget's status moves
        await options.onBlocked(blockers);
      }
      toEvict = blocked;
      if (toEvict.length > 0) {
        log.info({ blockers: summary }, 'eviction blocked, retrying');
        await clock.sleep(config.drain.evictionRetrySeconds * 1000, stop.signal).catch(() => undefined);
      }
    }
    const remaining = await deletion;
    if (remaining.length > 0 || toEvict.length > 0) {
      if (options.signal?.aborted) throw new Error(`drain of ${nodeName} was cancelled`, { cause: options.signal.reason });
      const stillThere = remaining.map(podKey).join(', ');
      // The deadline is overall: another attempt would start past it. Roll back now.
      throw new TerminalError(
        `drain of ${nodeName} timed out after ${config.drain.timeoutSeconds}s (drain.timeoutSeconds, counted from the first attempt); ` +
          `still on the node: ${stillThere || 'none'}${blockers.length ? `; blocked by: ${describeBlockers(blockers)}` : ''}`,
      );
    }
    if (lastBlockers !== '') await options.onBlocked([]);
    return { classified, evicted: classified.evict.map(podKey) };
  } finally {
    stop.abort(new Error('drain finished'));
    options.signal?.removeEventListener('abort', onOuterAbort);
    await deadlineTimer;
  }
}
