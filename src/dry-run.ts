// Dry run as a strategy: the same EngineDeps with every mutating port wrapped in a recorder. What
// the recorders did not do goes into the engine's observer stream as `recorded` events, in the
// order the engine did it, next to its decisions: a plan is that stream.
import type { EngineDeps } from './engine/executor.js';
import { fanOut, type EngineObserver } from './engine/observer.js';
import { RecordingControlPlane, RecordingEvents, RecordingEvictor, RecordingNodeApi, RecordingSmokeTester, type RecordSink } from './kube/dry-run.js';
import { RecordingRemoteHost } from './remote/dry-run.js';

export function withDryRun(deps: EngineDeps, observer: EngineObserver): EngineDeps {
  const stream = fanOut(deps.observer, observer);
  // Records without a node of their own (evictions) belong to the node being planned.
  let current = '';
  const sink: RecordSink = (node, record) => {
    if (node) current = node;
    stream.emit({ type: 'recorded', node: node ?? current, record });
  };
  return {
    ...deps,
    dryRun: true,
    observer: stream,
    nodes: new RecordingNodeApi(deps.nodes, sink),
    evictor: new RecordingEvictor(deps.evictor, sink),
    events: new RecordingEvents(sink),
    smoke: new RecordingSmokeTester(sink),
    controlPlane: new RecordingControlPlane(deps.controlPlane, sink),
    connect: async (node) => {
      current = node.name;
      return new RecordingRemoteHost(await deps.connect(node), (record) => sink(node.name, record));
    },
  };
}
