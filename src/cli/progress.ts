// Live progress of `migrate`: one readable line per step on stderr, read from the engine's
// observer stream (decisions, phases reached, failed attempts, drain blockers). Pure formatting;
// writes go to a sink.
import { describeBlockers } from '../drain/drain.js';
import type { EngineEvent, EngineObserver } from '../engine/observer.js';
import type { Clock } from '../ports.js';

function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
}

export class ProgressReporter implements EngineObserver {
  private readonly nodeStart = new Map<string, number>();
  private readonly lastWait = new Map<string, string>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly clock: Clock,
  ) {}

  private line(node: string, text: string): void {
    const time = this.clock.now().toISOString().slice(11, 19);
    this.write(`${time}  ${node}  ${text}\n`);
  }

  emit(event: EngineEvent): void {
    const { node } = event;
    switch (event.type) {
      case 'decided': {
        const d = event.decision;
        if (d.kind === 'act') {
          if (!this.nodeStart.has(node)) this.nodeStart.set(node, this.clock.now().getTime());
          this.lastWait.delete(node);
          this.line(node, `${d.action} ... (${d.reason})`);
        } else if (d.kind === 'wait') {
          // The same wait repeats every pass (e.g. another node is migrating): say it once.
          if (this.lastWait.get(node) === d.reason) return;
          this.lastWait.set(node, d.reason);
          this.line(node, `waiting: ${d.reason} (looking again in ${seconds(d.requeueAfterMs)})`);
        } else if (d.warning) {
          this.line(node, `needs attention: ${d.reason}`);
        }
        return;
      }
      case 'phase': {
        if (event.phase === 'RollingBack') return this.line(node, 'rolling back');
        const start = this.nodeStart.get(node);
        const final = event.phase === 'Succeeded' || event.phase === 'RolledBack' || event.phase === 'Failed';
        const total = final && start !== undefined ? ` (total ${seconds(this.clock.now().getTime() - start)})` : '';
        this.line(node, `${event.phase} in ${seconds(event.tookMs)}${total}`);
        return;
      }
      case 'stepFailed': {
        const counted = event.unavailable ? 'not counted' : `attempt ${event.attempt}/${event.maxAttempts}`;
        const next = event.nextAttemptAt ? `; next attempt at ${event.nextAttemptAt.toISOString().slice(11, 19)}` : event.terminal ? '; rolling back' : '';
        this.line(node, `FAILED ${event.action} (${counted}): ${event.message}${next}`);
        return;
      }
      case 'drainBlocked':
        if (event.blockers.length > 0) this.line(node, `drain blocked, retrying: ${describeBlockers(event.blockers)}`);
        else this.line(node, 'drain no longer blocked');
        return;
      case 'progress':
        this.line(node, event.message);
        return;
      case 'unselected':
        this.line(node, 'label removed: finishing the migration already under way; it will not be repeated');
        return;
      case 'held':
        this.line(node, `held by another actor: ${event.message}`);
        return;
      default:
        return;
    }
  }
}
