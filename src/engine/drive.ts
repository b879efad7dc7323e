// Drives one node to a resting point by repeating reconcileNode: what the CLI's `migrate` and
// `plan` use (the controller uses its work queue instead).
import { ActionFailedError, reconcileNode, type EngineDeps, type PassResult } from './executor.js';

export interface DriveOptions {
  signal?: AbortSignal;
  /** Return at the first wait instead of sleeping through it (plans). */
  stopOnWait?: boolean;
  /** Safety net against a loop that never settles. */
  maxPasses?: number;
  onPass?: (result: PassResult) => void;
}

export function backoffMs(failures: number, retries: { initialBackoffSeconds: number; maxBackoffSeconds: number }): number {
  const ms = retries.initialBackoffSeconds * 1000 * 2 ** Math.max(0, failures - 1);
  return Math.min(ms, retries.maxBackoffSeconds * 1000);
}

export async function driveNode(name: string, deps: EngineDeps, options: DriveOptions = {}): Promise<PassResult> {
  const maxPasses = options.maxPasses ?? 200;
  let failures = 0;
  for (let pass = 0; pass < maxPasses; pass++) {
    options.signal?.throwIfAborted();
    let result: PassResult;
    try {
      result = await reconcileNode(name, deps);
      failures = 0;
    } catch (err) {
      if (!(err instanceof ActionFailedError)) throw err;
      failures++;
      // Terminal failures are retried at once: the next pass starts the rollback.
      if (!err.terminal) await deps.clock.sleep(backoffMs(failures, deps.config.retries), options.signal);
      continue;
    }
    options.onPass?.(result);
    if (result.kind === 'settled') return result;
    if (result.kind === 'wait') {
      if (options.stopOnWait) return result;
      await deps.clock.sleep(result.requeueAfterMs, options.signal);
    }
  }
  throw new Error(`${name}: no resting point after ${maxPasses} passes`);
}
