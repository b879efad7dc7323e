// Level-triggered reconcile of one node per call: the engine re-reads the Node and takes one
// step; the result tells the queue what to do with the key next.
import { parseState } from '../domain/annotations.js';
import { matchesSelector } from '../domain/selector.js';
import type { NodeView } from '../domain/types.js';
import { isMigrating } from '../engine/decide.js';
import { ActionFailedError, reconcileNode, type EngineDeps, type PassResult } from '../engine/executor.js';
import { NodeGoneError, StaleStateError } from '../ports.js';
import type { WorkQueue } from './queue.js';

/** Nodes worth a reconcile: selected ones, and any we are midway through (even if unlabelled since). */
export function isRelevant(node: NodeView, selector: string): boolean {
  if (matchesSelector(node.labels, selector)) return true;
  const parsed = parseState(node.annotations);
  return !parsed.ok || isMigrating(parsed.state);
}

export type Outcome =
  | { kind: 'requeue'; reason: string }
  | { kind: 'requeueAfter'; delayMs: number; reason: string }
  | { kind: 'backoff'; delayMs: number; reason: string }
  | { kind: 'forget'; reason: string };

/** err, or an error in its chain of causes, is an instance of type. */
function causedBy(err: unknown, type: abstract new (...args: never[]) => Error): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof type) return true;
    e = (e as Error).cause;
  }
  return false;
}

/** Run one pass for key and schedule its next one. */
export async function reconcileKey(key: string, deps: EngineDeps, queue: WorkQueue<string>): Promise<Outcome> {
  let result: PassResult;
  try {
    result = await reconcileNode(key, deps);
  } catch (err) {
    if (causedBy(err, StaleStateError)) {
      // Someone changed the node between our read and our write: just look again.
      queue.add(key);
      return { kind: 'requeue', reason: 'state changed concurrently' };
    }
    if (causedBy(err, NodeGoneError)) {
      // Deleted (scaled away, replaced) while queued or midway: there is nothing to retry. If a
      // node of that name comes back, the watch queues it again and its annotations say where
      // it stands.
      queue.forget(key);
      deps.log.info({ node: key }, 'node no longer exists; dropping it from the queue');
      return { kind: 'forget', reason: `node ${key} no longer exists` };
    }
    if (err instanceof ActionFailedError && err.terminal) {
      // The failure is recorded with attempts exhausted: the next pass starts the rollback.
      queue.add(key);
      return { kind: 'requeue', reason: err.message };
    }
    const delayMs = queue.addRateLimited(key);
    deps.log.warn({ node: key, err, retryInMs: delayMs }, 'reconcile failed');
    return { kind: 'backoff', delayMs, reason: err instanceof Error ? err.message : String(err) };
  }
  queue.forget(key);
  switch (result.kind) {
    case 'progressed':
      queue.add(key);
      return { kind: 'requeue', reason: `reached ${result.phase}` };
    case 'wait':
      queue.addAfter(key, result.requeueAfterMs);
      return { kind: 'requeueAfter', delayMs: result.requeueAfterMs, reason: result.reason };
    case 'settled':
      return { kind: 'forget', reason: result.reason };
  }
}
