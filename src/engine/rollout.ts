// The rollout gate: whether a new node may start now, for the whole fleet. Pure: the admission
// (controller and CLI), `status` and the metrics all ask it the same question of the same view.
// In-flight nodes always finish; the gate only holds back new ones.
import type { Config } from '../config.js';

export type GateReason = 'halted' | 'paused' | 'window' | 'blocking-pods' | 'canary';
export const GATE_REASONS: readonly GateReason[] = ['halted', 'paused', 'window', 'blocking-pods', 'canary'];

export interface RolloutView {
  /** Nodes that ended RolledBack or Failed with rollout.haltOnFailure: the rollout waits for a human. */
  halts: readonly { node: string; reason: string }[];
  /** Set by `cri-migrator pause`. */
  paused: { by: string; at: Date; reason: string } | undefined;
  /** Pods matching rollout.blockingPodSelector (a few names), when a selector is set. */
  blockingPods: readonly string[];
  /** Nodes this rollout migrated (Succeeded with a start time: not adopted), and whether they are healthy now. */
  migrated: readonly { node: string; finishedAt: Date; healthy: boolean }[];
}

export type Gate =
  | { open: true; note?: string }
  | { open: false; reason: GateReason; message: string; /** When to look again. */ retryAfterMs: number };

/** Looked at again this often when nothing says when the gate opens (a human's resume, pods going away). */
export const GATE_POLL_MS = 30_000;

type Window = Config['rollout']['windows'][number];

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const formatters = new Map<string, Intl.DateTimeFormat>();
function localParts(at: Date, timeZone: string): { day: number; minutes: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  const day = DAYS.indexOf(String(parts['weekday']).toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return { day, minutes: Number(parts['hour']) * 60 + Number(parts['minute']) };
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** Whether `at` falls in the window, in the window's time zone. A window whose end is not after its start runs past midnight into the next day. */
export function inWindow(at: Date, window: Window): boolean {
  const { day, minutes } = localParts(at, window.timeZone);
  const days = new Set(window.days.map((d) => DAYS.indexOf(d.slice(0, 3) as (typeof DAYS)[number])));
  const start = minutesOf(window.startTime);
  const end = minutesOf(window.endTime);
  if (start < end) return days.has(day) && minutes >= start && minutes < end;
  // Across midnight: the evening of a listed day, or the early hours after one.
  return (days.has(day) && minutes >= start) || (days.has((day + 6) % 7) && minutes < end);
}

/** The next minute at which one of the windows is open (within 8 days), or undefined. */
export function nextWindowOpening(from: Date, windows: readonly Window[]): Date | undefined {
  const start = Math.ceil(from.getTime() / 60_000) * 60_000;
  for (let t = start; t < start + 8 * 24 * 60 * 60_000; t += 60_000) {
    const at = new Date(t);
    if (windows.some((w) => inWindow(at, w))) return at;
  }
  return undefined;
}

function describeWindow(w: Window): string {
  return `${w.days.join(',')} ${w.startTime}-${w.endTime} ${w.timeZone}`;
}

/**
 * May a new node start now? Halt first (a failure waits for a human), then pause, maintenance
 * windows, blocking pods, and the canary's soak.
 */
export function rolloutGate(view: RolloutView, config: Config, now: Date): Gate {
  const { rollout } = config;
  if (rollout.haltOnFailure && view.halts.length > 0) {
    const first = view.halts[0]!;
    const more = view.halts.length > 1 ? ` (and ${view.halts.length - 1} more)` : '';
    return {
      open: false,
      reason: 'halted',
      message:
        `rollout halted: ${first.node} ${first.reason}${more}. Fix it, then run "cri-migrator resume" ` +
        `(or remove the annotation cri-migrator.dev/halt from ${view.halts.map((h) => h.node).join(', ')})`,
      retryAfterMs: GATE_POLL_MS,
    };
  }
  if (view.paused) {
    const { by, at, reason } = view.paused;
    return {
      open: false,
      reason: 'paused',
      message: `rollout paused by ${by} at ${at.toISOString()}${reason ? ` (${reason})` : ''}: run "cri-migrator resume" to go on`,
      retryAfterMs: GATE_POLL_MS,
    };
  }
  if (rollout.windows.length > 0 && !rollout.windows.some((w) => inWindow(now, w))) {
    const next = nextWindowOpening(now, rollout.windows);
    return {
      open: false,
      reason: 'window',
      message: `outside the maintenance windows (${rollout.windows.map(describeWindow).join('; ')}); ${next ? `the next opens at ${next.toISOString()}` : 'none opens within 8 days'}`,
      retryAfterMs: next ? Math.max(1_000, next.getTime() - now.getTime()) : GATE_POLL_MS * 10,
    };
  }
  if (rollout.blockingPodSelector && view.blockingPods.length > 0) {
    return {
      open: false,
      reason: 'blocking-pods',
      message: `pods matching rollout.blockingPodSelector "${rollout.blockingPodSelector}" exist: ${view.blockingPods.join(', ')}`,
      retryAfterMs: GATE_POLL_MS,
    };
  }
  const canary = rollout.canary;
  if (canary.nodes > 0 && view.migrated.length >= canary.nodes) {
    const first = [...view.migrated].sort((a, b) => a.finishedAt.getTime() - b.finishedAt.getTime()).slice(0, canary.nodes);
    const sick = first.filter((n) => !n.healthy).map((n) => n.node);
    if (sick.length > 0) {
      return {
        open: false,
        reason: 'canary',
        message: `canary node(s) ${sick.join(', ')} not healthy (Ready on containerd): the rest waits`,
        retryAfterMs: GATE_POLL_MS,
      };
    }
    const soakEnds = Math.max(...first.map((n) => n.finishedAt.getTime())) + canary.soakSeconds * 1000;
    if (now.getTime() < soakEnds) {
      return {
        open: false,
        reason: 'canary',
        message: `canary: ${first.map((n) => n.node).join(', ')} migrated; soaking until ${new Date(soakEnds).toISOString()} (rollout.canary.soakSeconds) before the rest`,
        retryAfterMs: soakEnds - now.getTime(),
      };
    }
  }
  return { open: true };
}

/**
 * How many more nodes may start now because of the canary: before the canary nodes have all
 * migrated, only they may be in flight.
 */
export function canaryRoom(view: RolloutView, inFlight: number, config: Config): number {
  const { canary } = config.rollout;
  if (canary.nodes === 0 || view.migrated.length >= canary.nodes) return Infinity;
  return canary.nodes - view.migrated.length - inFlight;
}
