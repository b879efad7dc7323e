// What a NodePatch (a merge patch of labels, annotations and spec.unschedulable) does to a
// NodeView: for the dry run's overlay, and for tests' fake API. null deletes a key.
import type { NodePatch, NodeView } from './types.js';

export function applyPatch(node: NodeView, patch: NodePatch): NodeView {
  const merge = (base: Readonly<Record<string, string>>, change: Readonly<Record<string, string | null>> = {}) => {
    const out: Record<string, string> = { ...base };
    for (const [key, value] of Object.entries(change)) {
      if (value === null) delete out[key];
      else out[key] = value;
    }
    return out;
  };
  return {
    ...node,
    labels: merge(node.labels, patch.labels),
    annotations: merge(node.annotations, patch.annotations),
    unschedulable: patch.unschedulable ?? node.unschedulable,
  };
}
