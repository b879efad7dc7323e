// Drain with kubectl drain's semantics through the ports: every eviction in flight at once, a
// PodDisruptionBudget's 429 means "wait and retry", deletion is observed by watch, and one overall
// deadline bounds it all.
import type { Config } from '../config.js';
import { podKey, type PodView } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { Clock, PodEvictor } from '../ports.js';
import { classifyPods, describeRefusals, type Classified } from './drain-filters.js';
import { TerminalError } from './errors.js';

export interface Blocker {
  pod: string;
  reason: string;
  budget?: string;
}

export interface DrainReport {
  classified: Classified;
  evicted: string[];
}

export interface DrainOptions {
  nodeName: string;
  config: Config;
  evictor: PodEvictor;
  clock: Clock;
  log: Logger;
  /** Called whenever the set of blocking pods changes (empty when nothing blocks any more). */
  onBlocked: (blockers: readonly Blocker[]) => Promise<void>;
  signal?: AbortSignal;
}

export function describeBlockers(blockers: readonly Blocker[]): string {
  return blockers.map((b) => `${b.pod}${b.budget ? ` (PodDisruptionBudget ${b.budget})` : ''}: ${b.reason}`).join('; ');
}

export async function drainNode(options: DrainOptions): Promise<DrainReport> {
  const { config, evictor, clock, nodeName, log } = options;
  const start = clock.now().getTime();
  const deadline = start + config.drain.timeoutSeconds * 1000;
  const pods = await evictor.listPodsOnNode(nodeName);
  const classified = classifyPods(pods, config.drain, clock.now());
  if (classified.refuse.length > 0) {
    throw new TerminalError(`drain of ${nodeName} refused: ${describeRefusals(classified.refuse)}`);
  }
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
          blockers.push({ pod: podKey(pod), reason: outcome.reason, ...(outcome.budget ? { budget: outcome.budget } : {}) });
        }
      }
      const summary = describeBlockers(blockers);
      if (summary !== lastBlockers) {
        lastBlockers = summary;
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
      throw new Error(
        `drain of ${nodeName} timed out after ${config.drain.timeoutSeconds}s (drain.timeoutSeconds); ` +
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
