// Dry run as a strategy: the same EngineDeps with every mutating port wrapped in a recorder.
import type { EngineDeps } from './engine/executor.js';
import { ClusterRecorder, RecordingEvents, RecordingEvictor, RecordingNodeApi, RecordingSmokeTester } from './kube/dry-run.js';
import { RecordingRemoteHost } from './remote/dry-run.js';

export interface DryRun {
  deps: EngineDeps;
  cluster: ClusterRecorder;
  /** One recorder per SSH session opened, in order. */
  hosts: { node: string; host: RecordingRemoteHost }[];
}

export function withDryRun(deps: EngineDeps): DryRun {
  const cluster = new ClusterRecorder();
  const hosts: DryRun['hosts'] = [];
  return {
    cluster,
    hosts,
    deps: {
      ...deps,
      nodes: new RecordingNodeApi(deps.nodes, cluster),
      evictor: new RecordingEvictor(deps.evictor, cluster),
      events: new RecordingEvents(cluster),
      smoke: new RecordingSmokeTester(cluster),
      connect: async (node) => {
        const host = new RecordingRemoteHost(await deps.connect(node));
        hosts.push({ node: node.name, host });
        return host;
      },
    },
  };
}
