// Level-triggered reconcile of one node per call: the engine re-reads the Node and takes one
// step; the result tells the queue what to do with the key next. Failures follow the engine's
// one retry policy (engine/retry.ts), the same the CLI follows.
import { parseState } from '../domain/annotations.js';
import { parseClaim } from '../domain/claim.js';
import { matchesSelector } from '../domain/selector.js';
import type { NodeView } from '../domain/types.js';
import { isMigrating } from '../engine/decide.js';
import { reconcileNode, type EngineDeps, type PassResult } from '../engine/executor.js';
import { classifyFailure, passBackoffMs } from '../engine/retry.js';
import type { Outcome, WorkQueue } from './queue.js';
import type { SlotWaiters } from './slots.js';

export type { Outcome } from './queue.js';

/** Nodes worth a reconcile: selected ones, and any we are midway through (even if unlabelled since). */
export function isRelevant(node: NodeView, selector: string): boolean {
  if (matchesSelector(node.labels, selector)) return true;
  const parsed = parseState(node.annotations);
  return !parsed.ok || isMigrating(parsed.state) || parseClaim(node.annotations) !== undefined;
}

/** Run one pass for key and schedule its next one. */
export async function reconcileKey(key: string, deps: EngineDeps, queue: WorkQueue<string>, slots?: SlotWaiters): Promise<Outcome> {
  let result: PassResult;
  try {
    result = await reconcileNode(key, deps);
  } catch (err) {
    const failure = classifyFailure(err);
    switch (failure.kind) {
      case 'stale':
        // Someone changed the node between our read and our write: just look again.
        queue.add(key);
        return { kind: 'requeue', reason: 'state changed concurrently' };
      case 'gone':
        // Deleted (scaled away, replaced) while queued or midway: there is nothing to retry. If a
        // node of that name comes back, the watch queues it again and its annotations say where
        // it stands.
        queue.forget(key);
        deps.log.info({ node: key }, 'node no longer exists; dropping it from the queue');
        return { kind: 'forget', reason: `node ${key} no longer exists` };
      case 'recorded':
        // The failure and the time of the next attempt are on the node: the next pass reads them
        // and waits (a watch event for our own patch does not shorten that wait).
        queue.forget(key);
        queue.add(key);
        return { kind: 'requeue', reason: err instanceof Error ? err.message : String(err) };
      case 'held': {
        deps.log.info({ node: key, reason: failure.error.message }, 'node held by another actor');
        deps.observer?.emit({ type: 'held', node: key, message: failure.error.message });
        if (!failure.retryAt) return { kind: 'forget', reason: failure.error.message };
        const delayMs = Math.max(1_000, failure.retryAt.getTime() - deps.clock.now().getTime() + 1_000);
        queue.addAfter(key, delayMs);
        return { kind: 'requeueAfter', delayMs, reason: failure.error.message };
      }
      case 'backoff': {
        const delayMs = passBackoffMs(failure, queue.noteFailure(key), deps.config.retries);
        queue.addAfter(key, delayMs);
        deps.log.warn({ node: key, err, retryInMs: delayMs, unavailable: failure.unavailable }, 'reconcile failed');
        return { kind: 'backoff', delayMs, reason: err instanceof Error ? err.message : String(err) };
      }
    }
  }
  queue.forget(key);
  switch (result.kind) {
    case 'progressed':
      queue.add(key);
      return { kind: 'requeue', reason: `reached ${result.phase}` };
    case 'wait':
      // Waiting for a slot, or for the fleet's gate (pause, window, blocking pods, halt): parked,
      // woken by the watch or by the first in line finding the way open, not each on a timer.
      if ((result.slot || result.gate) && slots) {
        slots.park(key);
        return { kind: 'park', reason: result.reason };
      }
      queue.addAfter(key, result.requeueAfterMs);
      return { kind: 'requeueAfter', delayMs: result.requeueAfterMs, reason: result.reason };
    case 'settled':
      return { kind: 'forget', reason: result.reason };
  }
}
