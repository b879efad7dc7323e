// The one stream of what the engine does, typed. Progress output (CLI), metrics (controller)
// and plans all read it; nothing parses the text of our own Events or logs.
import type { BudgetView, NodePatch, Phase } from '../domain/types.js';
import type { EvictionOutcome } from '../ports.js';
import type { Blocker } from '../drain/drain.js';
import type { CheckResult } from '../host/preflight.js';
import type { RenderedFiles } from '../host/files.js';
import type { ActionName, Decision } from './decide.js';

export type Outcome = 'succeeded' | 'rolled_back' | 'failed';

export type EngineEvent =
  /** What the state machine decided on this pass (act, wait or none). */
  | { type: 'decided'; node: string; decision: Decision }
  /** An action completed and the node reached a phase. */
  | { type: 'phase'; node: string; action: ActionName; phase: Phase; tookMs: number }
  /** A migration ended (Succeeded, RolledBack, Failed), with its whole duration when known. */
  | { type: 'finished'; node: string; outcome: Outcome; durationMs: number | undefined }
  /** An attempt failed; unavailable: the API server or sshd did not answer (not counted). */
  | {
      type: 'stepFailed';
      node: string;
      action: ActionName;
      attempt: number;
      maxAttempts: number;
      message: string;
      terminal: boolean;
      unavailable: boolean;
      nextAttemptAt: Date | undefined;
    }
  /** The set of pods (and PodDisruptionBudgets) blocking the drain changed; empty when cleared. */
  | { type: 'drainBlocked'; node: string; blockers: readonly Blocker[] }
  | { type: 'preflight'; node: string; results: readonly CheckResult[] }
  | { type: 'rendered'; node: string; rendered: RenderedFiles }
  /** Progress inside a long step (images carried, bytes moved). */
  | { type: 'progress'; node: string; message: string }
  /** The node stopped matching the selector mid-migration: it is finished, not repeated. */
  | { type: 'unselected'; node: string }
  /** Another actor holds the node. */
  | { type: 'held'; node: string; message: string }
  /** A dry run recorded a change instead of making it, in the order the engine made it. */
  | { type: 'recorded'; node: string; record: DryRunRecord };

export type DryRunRecord =
  | { kind: 'exec'; command: string }
  | { kind: 'write'; path: string; before: string | null; after: string; mode: number }
  | { kind: 'patch'; patch: NodePatch }
  | { kind: 'wait'; description: string }
  | { kind: 'evict'; pod: string; outcome: EvictionOutcome; budget?: BudgetView }
  | { kind: 'event'; type: string; reason: string; message: string }
  | { kind: 'smoke'; image: string };

export interface EngineObserver {
  emit(event: EngineEvent): void;
}

/** Every observer gets every event, in order; one that throws does not stop the others. */
export function fanOut(...observers: (EngineObserver | undefined)[]): EngineObserver {
  const live = observers.filter((o): o is EngineObserver => o !== undefined);
  return {
    emit(event) {
      for (const o of live) {
        try {
          o.emit(event);
        } catch {
          // An observer's failure (a closed stderr, a metrics bug) must not break a migration.
        }
      }
    },
  };
}
