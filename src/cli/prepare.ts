// What the CLI does to a node before driving it: label it when it lacks the migrate label (naming
// a node on the command line is the request), and clear a finished RolledBack/Failed state when
// --retry asks for another attempt. Pure: returns the patch, the caller applies it (for real, or
// through the dry-run NodeApi in a plan).
import { ANNOTATIONS, parseState } from '../domain/annotations.js';
import { matchesSelector, parseSelector } from '../domain/selector.js';
import type { NodePatch, NodeView } from '../domain/types.js';

export type Preparation =
  | { kind: 'ready'; patch: NodePatch | undefined; notes: string[] }
  | { kind: 'refused'; message: string };

/** Kept on --retry of a Failed node: it is still as we left it (maybe cordoned by us, on containerd's socket). */
const KEPT_AFTER_FAILED = [ANNOTATIONS.wasUnschedulable, ANNOTATIONS.previousCriSocket, ANNOTATIONS.sourceRuntime] as const;

export function prepareNode(node: NodeView, selector: string, options: { retry: boolean; command: string }): Preparation {
  const notes: string[] = [];
  const annotations: Record<string, string | null> = {};
  const labels: Record<string, string | null> = {};
  const parsed = parseState(node.annotations);
  const ours = Object.keys(ANNOTATIONS).map((k) => ANNOTATIONS[k as keyof typeof ANNOTATIONS]);

  if (!parsed.ok) {
    if (!options.retry) {
      return { kind: 'refused', message: `${node.name}: ${parsed.error}, or start over with: cri-migrator ${options.command} --retry ${node.name}` };
    }
    for (const key of ours) if (Object.hasOwn(node.annotations, key)) annotations[key] = null;
    notes.push('clear the unreadable cri-migrator.dev/ state (--retry)');
  } else {
    const { phase } = parsed.state;
    const reason = parsed.state.rollbackReason ?? parsed.state.lastError ?? 'no reason recorded';
    if (phase === 'RolledBack' || phase === 'Failed') {
      if (!options.retry) {
        const human = phase === 'Failed' ? ' (it needs a human: look at the node, its backups and events first)' : '';
        return {
          kind: 'refused',
          message: `${node.name} ended ${phase}${human}: ${reason}. Fix the cause, then run: cri-migrator ${options.command} --retry ${node.name}`,
        };
      }
      const keep: readonly string[] = phase === 'Failed' ? KEPT_AFTER_FAILED : [];
      for (const key of ours) if (Object.hasOwn(node.annotations, key) && !keep.includes(key)) annotations[key] = null;
      notes.push(`clear the ${phase} state to try again (--retry; it ended: ${reason})`);
    } else if (options.retry) {
      notes.push(`--retry: nothing to clear (phase ${phase})`);
    }
  }

  if (!matchesSelector(node.labels, selector)) {
    // Add what the selector's key=value and key terms ask for; != and !key terms are only met by removing labels, which we do not do.
    for (const term of parseSelector(selector)) {
      if (term.op === 'eq') labels[term.key] = term.value;
      else if (term.op === 'exists' && !Object.hasOwn(node.labels, term.key)) labels[term.key] = '';
    }
    const after = { ...node.labels, ...(labels as Record<string, string>) };
    if (!matchesSelector(after, selector)) {
      return {
        kind: 'refused',
        message: `${node.name} is excluded by the selector "${selector}" and labelling cannot change that: change its labels or the selector (config "selector")`,
      };
    }
    notes.push(`label the node ${Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(', ')} (it lacks the selector "${selector}")`);
  }

  const patch: NodePatch = {};
  if (Object.keys(annotations).length > 0) patch.annotations = annotations;
  if (Object.keys(labels).length > 0) patch.labels = labels as Record<string, string>;
  return { kind: 'ready', patch: Object.keys(patch).length > 0 ? patch : undefined, notes };
}
