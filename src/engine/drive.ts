// Drives one node to a resting point by repeating reconcileNode: what the CLI's `migrate` and
// `plan` use (the controller uses its work queue instead). Failures follow the one retry policy
// (retry.ts): a recorded failure's wait is read back from the node by the next pass.
import type { EngineDeps, PassResult } from './executor.js';
import { reconcileNode, sleepHoldingClaim } from './executor.js';
import { classifyFailure, passBackoffMs } from './retry.js';
import type { GateReason } from './rollout.js';

export interface DriveOptions {
  signal?: AbortSignal;
  /** Return at the first wait instead of sleeping through it (plans). */
  stopOnWait?: boolean;
  /** Return at a wait for one of these rollout gates (what only a human ends: halted, paused). */
  stopOnGate?: readonly GateReason[];
  /** Safety net against a loop that never settles. */
  maxPasses?: number;
  onPass?: (result: PassResult) => void;
}

export async function driveNode(name: string, deps: EngineDeps, options: DriveOptions = {}): Promise<PassResult> {
  const maxPasses = options.maxPasses ?? 500;
  const { retries } = deps.config;
  let failures = 0;
  let unavailableSince: number | undefined;
  for (let pass = 0; pass < maxPasses; pass++) {
    options.signal?.throwIfAborted();
    let result: PassResult;
    try {
      result = await reconcileNode(name, deps);
      failures = 0;
      unavailableSince = undefined;
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind === 'stale' || failure.kind === 'recorded') continue;
      if (failure.kind === 'gone' || failure.kind === 'held') throw err;
      failures++;
      if (failure.unavailable) {
        // The API server (or sshd) does not answer: ride it out, up to retries.unavailableTimeoutSeconds.
        const now = deps.clock.now().getTime();
        unavailableSince ??= now;
        if (now - unavailableSince >= retries.unavailableTimeoutSeconds * 1000) {
          throw new Error(`${name}: still not answering after ${retries.unavailableTimeoutSeconds}s (retries.unavailableTimeoutSeconds); run again to resume`, { cause: err });
        }
      } else if (failures >= retries.maxAttempts) {
        throw err;
      }
      await deps.clock.sleep(passBackoffMs(failure, failures, retries), options.signal);
      continue;
    }
    options.onPass?.(result);
    if (result.kind === 'settled') return result;
    if (result.kind === 'wait') {
      if (options.stopOnWait || (result.gate && options.stopOnGate?.includes(result.gate))) return result;
      await sleepHoldingClaim(name, deps, result.requeueAfterMs, options.signal);
    }
  }
  throw new Error(`${name}: no resting point after ${maxPasses} passes`);
}
