// A work queue keyed by node name, after client-go's workqueue: a key is queued at most once,
// is never handed to two workers at once (re-added while processing, it comes back after done()),
// and can be delayed (requeue-after). It counts a key's failures in a row; how long they back off
// is the engine's retry policy (engine/retry.ts).
import type { Clock } from '../ports.js';

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly delayed = new Map<K, { due: number; cancel: AbortController }>();
  private readonly failures = new Map<K, number>();
  private readonly getters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly clock: Clock) {}

  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // handed out again after done()
    this.push(key);
  }

  /** Add after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const due = this.clock.now().getTime() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.due <= due) return;
    pending?.cancel.abort();
    const cancel = new AbortController();
    this.delayed.set(key, { due, cancel });
    this.clock.sleep(delayMs, cancel.signal).then(
      () => {
        if (this.delayed.get(key)?.cancel === cancel) this.delayed.delete(key);
        this.add(key);
      },
      () => undefined, // cancelled: superseded by an earlier delay or shut down
    );
  }

  /** One more failure of this key in a row; returns how many now. */
  noteFailure(key: K): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return failures;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.handOut(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }

  /** Nothing queued is handed out any more (a stopping controller starts nothing new). */
  shutDown(): void {
    this.shuttingDown = true;
    this.queue.length = 0;
    this.dirty.clear();
    for (const { cancel } of this.delayed.values()) cancel.abort();
    this.delayed.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  get length(): number {
    return this.queue.length;
  }

  isProcessing(key: K): boolean {
    return this.processing.has(key);
  }

  private push(key: K): void {
    const getter = this.getters.shift();
    if (getter) getter(this.handOut(key));
    else this.queue.push(key);
  }

  private handOut(key: K): K {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}

/** How a pass schedules the node's next one on the queue. */
export type Outcome =
  | { kind: 'requeue'; reason: string }
  | { kind: 'requeueAfter'; delayMs: number; reason: string }
  | { kind: 'backoff'; delayMs: number; reason: string }
  | { kind: 'forget'; reason: string }
  /** Waiting for a migration slot or the rollout gate: woken when one frees or it opens (controller/slots.ts), not by a timer. */
  | { kind: 'park'; reason: string };
