// Live progress of `migrate`: one readable line per step on stderr, built from what the engine
// already reports: its decisions (EngineObserver), the Events it records on the Node (each
// transition and failure), and the waits driveNode returns. Pure formatting; writes go to a sink.
import type { Decision } from '../engine/decide.js';
import type { EngineObserver, PassResult } from '../engine/executor.js';
import type { Clock, EventRecorder } from '../ports.js';

export type NodeEvent = { type: 'Normal' | 'Warning'; reason: string; message: string };

/** Passes every Event on to the real recorder and to a listener. */
export class TeeEvents implements EventRecorder {
  constructor(
    private readonly inner: EventRecorder,
    private readonly listener: (node: string, event: NodeEvent) => void,
  ) {}

  async record(nodeName: string, event: NodeEvent): Promise<void> {
    this.listener(nodeName, event);
    await this.inner.record(nodeName, event);
  }
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
}

export class ProgressReporter implements EngineObserver {
  private readonly stepStart = new Map<string, number>();
  private readonly nodeStart = new Map<string, number>();
  private lastWait = new Map<string, string>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly clock: Clock,
  ) {}

  private line(node: string, text: string): void {
    const time = this.clock.now().toISOString().slice(11, 19);
    this.write(`${time}  ${node}  ${text}\n`);
  }

  decided(node: string, decision: Decision): void {
    if (decision.kind !== 'act') return;
    const now = this.clock.now().getTime();
    this.stepStart.set(node, now);
    if (!this.nodeStart.has(node)) this.nodeStart.set(node, now);
    this.lastWait.delete(node);
    this.line(node, `${decision.action} ... (${decision.reason})`);
  }

  event(node: string, event: NodeEvent): void {
    const started = this.stepStart.get(node);
    const took = started === undefined ? '' : ` in ${seconds(this.clock.now().getTime() - started)}`;
    switch (event.reason) {
      case 'DrainBlocked':
        this.line(node, `drain blocked, retrying: ${event.message.replace(/^waiting for: /, '')}`);
        return;
      case 'MigrationStepFailed':
        this.line(node, `FAILED ${event.message}`);
        return;
      case 'MigrationRollingBack':
        this.line(node, `rolling back: ${event.message}`);
        return;
      case 'MigrationNeedsAttention':
        this.line(node, `needs attention: ${event.message}`);
        return;
      default:
        break;
    }
    const phase = /^Migration(.+)$/.exec(event.reason)?.[1];
    if (!phase) {
      this.line(node, `${event.reason}: ${event.message}`);
      return;
    }
    const total = this.nodeStart.get(node);
    const overall = (phase === 'Succeeded' || phase === 'RolledBack' || phase === 'Failed') && total !== undefined
      ? ` (total ${seconds(this.clock.now().getTime() - total)})`
      : '';
    if (event.type === 'Warning') this.line(node, `${phase}${took}: ${event.message}${overall}`);
    else this.line(node, `${phase}${took}${overall}`);
  }

  pass(result: PassResult): void {
    if (result.kind !== 'wait') return;
    // The same wait repeats every pass (e.g. another node is migrating): say it once.
    if (this.lastWait.get(result.node) === result.reason) return;
    this.lastWait.set(result.node, result.reason);
    this.line(result.node, `waiting: ${result.reason} (looking again every ${seconds(result.requeueAfterMs)})`);
  }
}
