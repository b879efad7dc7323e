// Events on the Node (core/v1), shown by `kubectl describe node`. Like the kubelet's, they live in
// the default namespace and use the node name as the involved object's uid.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { Clock, EventRecorder } from '../ports.js';

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly core: CoreV1Api,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly instance: string,
  ) {}

  async record(nodeName: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> {
    const now = this.clock.now();
    try {
      await this.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { generateName: `${nodeName}.`, namespace: 'default' },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeName },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1024),
          source: { component: 'cri-migrator' },
          reportingComponent: 'cri-migrator.dev/controller',
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      // An event is a notification, not state: failing to post one must not fail the migration.
      this.log.warn({ err, node: nodeName, reason: event.reason }, 'could not record an event');
    }
  }
}
