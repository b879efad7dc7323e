// The one retry policy: how long to wait after a failure, and what a failed pass means for the
// driver that ran it. The controller (work queue) and the CLI (driveNode) both follow it.
import type { Config } from '../config.js';
import { ClaimHeldError, ClaimLostError, claimExpiresAt } from '../domain/claim.js';
import { causedBy, UnavailableError } from '../domain/errors.js';
import { NodeGoneError, StaleStateError } from '../ports.js';

type Retries = Pick<Config['retries'], 'initialBackoffSeconds' | 'maxBackoffSeconds' | 'unavailableMaxBackoffSeconds'>;

/** Wait after the n-th failed attempt of a step (n >= 1): initial, 2x, 4x, ... capped. */
export function backoffMs(failures: number, retries: Retries): number {
  const ms = retries.initialBackoffSeconds * 1000 * 2 ** Math.max(0, failures - 1);
  return Math.min(ms, retries.maxBackoffSeconds * 1000);
}

/**
 * Wait after the n-th attempt that found the API server or the node's sshd not answering: the
 * same doubling, capped lower, because nothing is wrong with the step and the sooner it is seen
 * answering again the shorter the node is out of service.
 */
export function unavailableBackoffMs(failures: number, retries: Retries): number {
  return Math.min(backoffMs(failures, retries), Math.max(retries.unavailableMaxBackoffSeconds, 1) * 1000);
}

/** An action failed and the failure (attempt, next-attempt-at) is recorded on the node. */
export class ActionFailedError extends Error {
  constructor(
    readonly node: string,
    readonly action: string,
    /** The next pass starts the rollback at once (no point retrying). */
    readonly terminal: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ActionFailedError';
  }
}

export type PassFailure =
  /** Someone changed the node between our read and our write: read again now. */
  | { kind: 'stale' }
  /** The Node object is gone: nothing to retry. */
  | { kind: 'gone' }
  /** Recorded on the node: the next pass decides (and waits until next-attempt-at). */
  | { kind: 'recorded' }
  /**
   * Another actor holds the node (or took it while we acted). retryAt: when its claim expires,
   * undefined when it already has and only a human (--force) may take it over.
   */
  | { kind: 'held'; error: ClaimLostError; retryAt: Date | undefined }
  /** Not recorded (the API server did not answer, or an unexpected error): back off in memory. */
  | { kind: 'backoff'; unavailable: boolean };

export function classifyFailure(err: unknown): PassFailure {
  const lost = causedBy(err, ClaimLostError);
  if (lost) {
    const retryAt = lost instanceof ClaimHeldError ? (lost.expired ? undefined : claimExpiresAt(lost.claim)) : new Date(0);
    return { kind: 'held', error: lost, retryAt };
  }
  if (causedBy(err, StaleStateError)) return { kind: 'stale' };
  if (causedBy(err, NodeGoneError)) return { kind: 'gone' };
  if (err instanceof ActionFailedError) return { kind: 'recorded' };
  return { kind: 'backoff', unavailable: causedBy(err, UnavailableError) !== undefined };
}

/** In-memory wait before the next pass after an unrecorded failure (the n-th in a row). */
export function passBackoffMs(failure: Extract<PassFailure, { kind: 'backoff' }>, failures: number, retries: Retries): number {
  return failure.unavailable ? unavailableBackoffMs(failures, retries) : backoffMs(failures, retries);
}
