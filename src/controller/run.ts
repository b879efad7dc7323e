// The controller: leader election, node watch feeding the work queue, and workers. Only the
// Lease holder acts. A term of leadership ends when the Lease is lost (the API server did not
// answer for a whole lease, or another replica holds it): in-flight steps are cancelled, and the
// replica stands by as a candidate again. On stop (SIGTERM) nothing new starts, the steps in
// flight get stopGraceMs to reach their next recorded state, then the Lease is released.
import type { Logger } from '../log.js';
import type { EngineDeps } from '../engine/executor.js';
import { LeaseNamespaceMissingError, type Lock, type NodeWatch } from '../ports.js';
import { backoffMs } from '../engine/retry.js';
import { ADMISSION_RETRY_MS } from '../engine/decide.js';
import { WorkQueue } from './queue.js';
import { SlotWaiters } from './slots.js';
import { isRelevant, reconcileKey, type Outcome } from './reconciler.js';

export interface ControllerOptions {
  engine: EngineDeps;
  watch: NodeWatch;
  lock: Lock;
  log: Logger;
  /** How often the leader renews, and a candidate retries, the Lease. */
  renewIntervalMs: number;
  /** How long the Lease lasts unrenewed: while the API server does not answer, the leader keeps acting this long. */
  leaseDurationMs: number;
  /** On stop: how long steps in flight may run on before they are cancelled (within the pod's termination grace period). */
  stopGraceMs?: number;
  /** Parallel reconciles; defaults to concurrency + 1 so a free worker answers quick decisions. */
  workers?: number;
  onOutcome?: (node: string, outcome: Outcome) => void;
  /** Leadership changes, for tests and logs. */
  onLeadership?: (leading: boolean) => void;
}

export const DEFAULT_STOP_GRACE_MS = 20_000;

export class Controller {
  /** The current term's queue. */
  queue: WorkQueue<string>;

  constructor(private readonly options: ControllerOptions) {
    this.queue = new WorkQueue(options.engine.clock);
  }

  /** Runs until the signal aborts. Throws only what retrying cannot fix (a missing Lease namespace). */
  async run(signal: AbortSignal): Promise<void> {
    const { lock, log, engine, renewIntervalMs } = this.options;
    while (!signal.aborted) {
      if (!(await this.acquire(lock))) {
        log.debug('waiting for the leader Lease');
        await engine.clock.sleep(renewIntervalMs, signal).catch(() => undefined);
        continue;
      }
      log.info('became leader');
      this.options.onLeadership?.(true);
      const ended = await this.lead(signal);
      this.options.onLeadership?.(false);
      if (ended === 'stopped') return;
      log.warn('lost the leader Lease; in-flight steps were cancelled (they resume from the nodes\' state); standing by');
    }
  }

  /** One term of leadership. */
  private async lead(signal: AbortSignal): Promise<'stopped' | 'lost'> {
    const { lock, log, engine, renewIntervalMs, leaseDurationMs } = this.options;
    const { clock } = engine;
    const queue = (this.queue = new WorkQueue(clock));
    // Cancels the steps in flight: at once when the Lease is lost, after the grace period on stop.
    const term = new AbortController();
    const deps: EngineDeps = { ...engine, signal: term.signal };
    const selector = engine.config.selector;
    const slots = new SlotWaiters(engine.config.concurrency, (key) => queue.add(key));
    await this.options.watch.start((node) => {
      if (slots.observe(node, clock.now()) && isRelevant(node, selector)) queue.add(node.name);
    });
    const workerCount = this.options.workers ?? engine.config.concurrency + 1;
    const workers = Promise.allSettled(Array.from({ length: workerCount }, () => this.worker(queue, deps, slots)));
    // What no watch event tells (a gate opening, a claim expiring unrenewed): the first in line looks again.
    const stopRecheck = new AbortController();
    const recheck = (async () => {
      while (!stopRecheck.signal.aborted) {
        await clock.sleep(ADMISSION_RETRY_MS, stopRecheck.signal).catch(() => undefined);
        if (!stopRecheck.signal.aborted) slots.wakeFirst(1);
      }
    })();

    let ended: 'stopped' | 'lost' = 'stopped';
    let lastRenewed = clock.now().getTime();
    while (!signal.aborted) {
      await clock.sleep(renewIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) break;
      let renewed: boolean;
      try {
        renewed = await lock.tryAcquire();
      } catch (err) {
        // The API server does not answer: nobody else can take the Lease either until it expires.
        if (clock.now().getTime() - lastRenewed < leaseDurationMs) {
          log.warn({ err }, 'renewing the leader Lease failed; still within the lease, going on');
          continue;
        }
        log.warn({ err }, 'the leader Lease could not be renewed within its duration');
        renewed = false;
      }
      if (!renewed) {
        ended = 'lost';
        break;
      }
      lastRenewed = clock.now().getTime();
    }

    queue.shutDown(); // nothing new starts
    stopRecheck.abort();
    await recheck;
    if (ended === 'lost') {
      term.abort(new Error('lost the leader Lease'));
    } else {
      const grace = this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      const timer = new AbortController();
      const graceOver = clock.sleep(grace, timer.signal).then(
        () => {
          log.warn({ graceMs: grace }, 'stopping: steps still in flight after the grace period are cancelled; they resume from the nodes\' state');
          term.abort(new Error('stopping'));
        },
        () => undefined,
      );
      await workers;
      timer.abort();
      await graceOver;
    }
    await workers;
    await this.options.watch.stop();
    if (ended === 'stopped') await lock.release().catch((err: unknown) => log.warn({ err }, 'releasing the Lease failed'));
    return ended;
  }

  private async acquire(lock: Lock): Promise<boolean> {
    try {
      return await lock.tryAcquire();
    } catch (err) {
      // Retrying cannot help: say what to do and stop (exit 2), rather than answer 503 forever.
      if (err instanceof LeaseNamespaceMissingError) throw err;
      this.options.log.warn({ err }, 'leader election failed; retrying');
      return false;
    }
  }

  private async worker(queue: WorkQueue<string>, deps: EngineDeps, slots: SlotWaiters): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const outcome = await reconcileKey(key, deps, queue, slots);
        slots.passEnded(key, outcome);
        this.options.onOutcome?.(key, outcome);
      } catch (err) {
        this.options.log.error({ err, node: key }, 'reconcile crashed');
        queue.addAfter(key, backoffMs(queue.noteFailure(key), deps.config.retries));
      } finally {
        queue.done(key);
      }
    }
  }
}
