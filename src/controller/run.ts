// The controller: leader election, node watch feeding the work queue, and workers. Only the
// Lease holder acts; losing the Lease stops everything (the process is expected to exit and be
// restarted, like controller-runtime's managers).
import type { Logger } from '../log.js';
import type { EngineDeps } from '../engine/executor.js';
import type { Lock, NodeWatch } from '../ports.js';
import { WorkQueue } from './queue.js';
import { isRelevant, reconcileKey, type Outcome } from './reconciler.js';

export interface ControllerOptions {
  engine: EngineDeps;
  watch: NodeWatch;
  lock: Lock;
  log: Logger;
  /** How often the leader renews, and a candidate retries, the Lease. */
  renewIntervalMs: number;
  /** Parallel reconciles; defaults to concurrency + 1 so a free worker answers quick decisions. */
  workers?: number;
  onOutcome?: (node: string, outcome: Outcome) => void;
}

export class LostLeadershipError extends Error {
  constructor(options?: ErrorOptions) {
    super('lost the leader Lease; stopping so a new leader can take over', options);
    this.name = 'LostLeadershipError';
  }
}

export class Controller {
  readonly queue: WorkQueue<string>;

  constructor(private readonly options: ControllerOptions) {
    const { retries } = options.engine.config;
    this.queue = new WorkQueue(options.engine.clock, { initialMs: retries.initialBackoffSeconds * 1000, maxMs: retries.maxBackoffSeconds * 1000 });
  }

  /** Runs until the signal aborts (resolves) or leadership is lost (rejects). */
  async run(signal: AbortSignal): Promise<void> {
    const { lock, log, engine, renewIntervalMs } = this.options;
    const { clock } = engine;
    while (!(await this.acquire(lock))) {
      if (signal.aborted) return;
      log.debug('waiting for the leader Lease');
      await clock.sleep(renewIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) return;
    }
    log.info('became leader');

    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const selector = engine.config.selector;
    await this.options.watch.start((node) => {
      if (isRelevant(node, selector)) this.queue.add(node.name);
    });
    const workerCount = this.options.workers ?? engine.config.concurrency + 1;
    const workers = Array.from({ length: workerCount }, () => this.worker());
    let lost: unknown;
    try {
      while (!stop.signal.aborted) {
        await clock.sleep(renewIntervalMs, stop.signal).catch(() => undefined);
        if (stop.signal.aborted) break;
        const renewed = await lock.tryAcquire().catch((err: unknown) => {
          lost = err;
          return false;
        });
        if (!renewed) {
          lost = new LostLeadershipError(lost ? { cause: lost } : undefined);
          break;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.options.watch.stop();
      this.queue.shutDown();
      await Promise.allSettled(workers);
      if (!lost) await lock.release().catch((err: unknown) => log.warn({ err }, 'releasing the Lease failed'));
    }
    if (lost) throw lost;
  }

  private async acquire(lock: Lock): Promise<boolean> {
    try {
      return await lock.tryAcquire();
    } catch (err) {
      this.options.log.warn({ err }, 'leader election failed; retrying');
      return false;
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        const outcome = await reconcileKey(key, this.options.engine, this.queue);
        this.options.onOutcome?.(key, outcome);
      } catch (err) {
        this.options.log.error({ err, node: key }, 'reconcile crashed');
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
