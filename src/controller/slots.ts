// Nodes waiting for a migration slot (concurrency reached, too few other nodes Ready) or for the
// rollout's gate (paused, outside the windows, blocking pods, halted, canary soak). They are not
// polled one by one: the controller wakes as many as there are free slots when a node leaves the
// in-flight set or becomes Ready, first come first served; the first in line looks again every
// recheckMs (a gate opening, a claim expiring unrenewed: no watch event tells), and when a woken
// node starts, the next ones are woken for the slots left. With 1,000 nodes waiting, the API work
// per minute does not grow with the waiting nodes.
import { inFlight } from '../engine/view.js';
import type { NodeView } from '../domain/types.js';
import type { Outcome } from './queue.js';

interface Seen {
  resourceVersion: string;
  inFlight: boolean;
  ready: boolean;
}

export class SlotWaiters {
  /** Insertion order is waiting order; a woken node keeps its place until its pass ends. */
  private readonly waiting = new Set<string>();
  /** Woken for a slot, their pass not ended yet. */
  private readonly woken = new Set<string>();
  /** Waiting until a change to their own object brought them back (not woken), their pass not ended yet. */
  private readonly released = new Set<string>();
  private readonly seen = new Map<string, Seen>();
  private inFlightCount = 0;

  constructor(
    private readonly concurrency: number,
    private readonly wake: (key: string) => void,
  ) {}

  /** The node waits for a slot (again: in the place it had). */
  park(key: string): void {
    this.woken.delete(key);
    this.released.delete(key);
    this.waiting.add(key);
  }

  isParked(key: string): boolean {
    return this.waiting.has(key) && !this.woken.has(key);
  }

  /**
   * A node as the watch saw it. Returns whether it needs a reconcile: not when it is parked and
   * its object did not change (a resync re-sends every node).
   */
  observe(node: NodeView, now: Date): boolean {
    const previous = this.seen.get(node.name);
    const current: Seen = { resourceVersion: node.resourceVersion, inFlight: inFlight(node, now), ready: node.ready };
    this.seen.set(node.name, current);
    this.inFlightCount += Number(current.inFlight) - Number(previous?.inFlight ?? false);
    if (previous && ((previous.inFlight && !current.inFlight) || (!previous.ready && current.ready))) this.wakeFree();
    if (this.isParked(node.name) && previous?.resourceVersion === current.resourceVersion) return false;
    // It changed: the reconcile decides again. A woken node keeps its mark until its pass ends
    // (its own writes come back as changes mid-pass, and passEnded must still see it woken).
    if (!this.woken.has(node.name) && this.waiting.delete(node.name)) this.released.add(node.name);
    return true;
  }

  /** Wake the first waiters, as many as slots look free (at least one). */
  wakeFree(): void {
    this.wakeFirst(Math.max(1, this.concurrency - this.inFlightCount));
  }

  /** Wake the n longest-waiting nodes not woken already. */
  wakeFirst(n: number): void {
    for (const key of this.waiting) {
      if (n <= 0) break;
      if (this.woken.has(key)) continue;
      n--;
      this.woken.add(key);
      this.wake(key);
    }
  }

  /**
   * A pass ended. A woken node that neither started nor waits for a slot again (it is not Ready,
   * or no longer selected) leaves its slot to the next in line.
   */
  passEnded(key: string, outcome: Outcome): void {
    const released = this.released.delete(key);
    if (this.woken.delete(key)) {
      this.waiting.delete(key);
      // It started: the gate is open, and more may fit.
      if (outcome.kind === 'requeue') this.wakeFree();
      else this.wakeFirst(1);
      return;
    }
    // A waiting node that a change to its own object brought back, and that started: the gate it
    // waited at is open for the others too (a blocking pod deleted: concurrency 2 starts two
    // nodes together, not the second at the next recheck). Parked again: park() cleared the mark.
    if (released && outcome.kind === 'requeue') this.wakeFree();
  }
}
