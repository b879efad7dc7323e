// Events on the Node (core/v1), shown by `kubectl describe node`. Like the kubelet's, they live in
// the default namespace and use the node name as the involved object's uid. An event that repeats
// (same node, type, reason and message) within the correlation window is counted on the Event
// already posted (a merge patch of count and lastTimestamp), as client-go's recorder does, so a
// drain that keeps waiting on the same PodDisruptionBudget does not flood the namespace.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { Clock, EventRecorder } from '../ports.js';
import { statusCode } from './convert.js';

const NAMESPACE = 'default';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface EventCorrelation {
  /** Repeats within this long of the last one are counted on the same Event. */
  windowMs: number;
  /** How many distinct events are remembered; the oldest is forgotten first. */
  maxEntries: number;
}

export const DEFAULT_EVENT_CORRELATION: EventCorrelation = { windowMs: 10 * 60_000, maxEntries: 512 };

interface Posted {
  name: string;
  count: number;
  lastAt: number;
}

export class KubeEventRecorder implements EventRecorder {
  private readonly posted = new Map<string, Posted>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly instance: string,
    private readonly correlation: EventCorrelation = DEFAULT_EVENT_CORRELATION,
  ) {}

  async record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    const now = this.clock.now();
    const message = event.message.slice(0, 1024);
    const key = JSON.stringify([nodeName, event.type, event.reason, message]);
    try {
      const previous = this.posted.get(key);
      if (previous && now.getTime() - previous.lastAt <= this.correlation.windowMs) {
        const counted = await this.count(previous, now);
        if (counted) return this.remember(key, { ...previous, count: previous.count + 1, lastAt: now.getTime() });
      }
      const created = await this.core.createNamespacedEvent({
        namespace: NAMESPACE,
        body: {
          metadata: { generateName: `${nodeName}.`, namespace: NAMESPACE },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeName },
          type: event.type,
          reason: event.reason,
          message,
          source: { component: 'cri-migrator' },
          reportingComponent: 'cri-migrator.dev/controller',
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      if (created.metadata?.name) this.remember(key, { name: created.metadata.name, count: 1, lastAt: now.getTime() });
    } catch (err) {
      // An event is a notification, not state: failing to post one must not fail the migration.
      this.log.warn({ err, node: nodeName, reason: event.reason }, 'could not record an event');
    }
  }

  /** Counts a repeat on the posted Event; false when that Event is gone (expired or deleted). */
  private async count(previous: Posted, now: Date): Promise<boolean> {
    try {
      await this.core.patchNamespacedEvent(
        { name: previous.name, namespace: NAMESPACE, body: { count: previous.count + 1, lastTimestamp: now } },
        mergePatch,
      );
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  private remember(key: string, posted: Posted): void {
    this.posted.delete(key); // re-inserted last: Map order is the eviction order
    this.posted.set(key, posted);
    while (this.posted.size > this.correlation.maxEntries) this.posted.delete(this.posted.keys().next().value!);
  }
}
