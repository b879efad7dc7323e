// The migration state lives on the Node as annotations under one prefix, so any replica (or the
// CLI) can pick up where another stopped. Parsing is strict: a hand-edited bad value is reported,
// never guessed at.
import { PHASES, type MigrationState, type Phase, type SourceRuntime } from './types.js';

export const PREFIX = 'cri-migrator.dev/';

export const ANNOTATIONS = {
  phase: `${PREFIX}phase`,
  intent: `${PREFIX}intent`,
  attempt: `${PREFIX}attempt`,
  lastError: `${PREFIX}last-error`,
  startedAt: `${PREFIX}started-at`,
  finishedAt: `${PREFIX}finished-at`,
  wasUnschedulable: `${PREFIX}was-unschedulable`,
  configHash: `${PREFIX}config-hash`,
  sourceRuntime: `${PREFIX}source-runtime`,
  previousCriSocket: `${PREFIX}previous-cri-socket`,
  failedPhase: `${PREFIX}failed-phase`,
  rollbackReason: `${PREFIX}rollback-reason`,
  blockedBy: `${PREFIX}blocked-by`,
  nextAttemptAt: `${PREFIX}next-attempt-at`,
  unavailableAttempts: `${PREFIX}unavailable-attempts`,
  intentSince: `${PREFIX}intent-since`,
  backupDir: `${PREFIX}backup-dir`,
  unselectedAt: `${PREFIX}unselected-at`,
  warnings: `${PREFIX}warnings`,
  /** Set when the node ended RolledBack or Failed with rollout.haltOnFailure; removing it (or `resume`) lets the rollout go on. */
  halt: `${PREFIX}halt`,
} as const;

/** Set on success so the node is not migrated twice and is easy to list. */
export const MIGRATED_LABEL = `${PREFIX}migrated`;
export const MIGRATED_LABEL_VALUE = 'containerd';

/** kubeadm reads this on `kubeadm upgrade`; it must name the runtime the kubelet really uses. */
export const KUBEADM_CRI_SOCKET_ANNOTATION = 'kubeadm.alpha.kubernetes.io/cri-socket';
export const CONTAINERD_SOCKET = 'unix:///run/containerd/containerd.sock';

export const CONTROL_PLANE_LABELS = ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'] as const;

/** Long texts (stderr, pod lists) are cut so annotations stay small. */
export const MAX_TEXT_ANNOTATION = 1024;

const SOURCE_RUNTIMES: readonly SourceRuntime[] = ['dockershim', 'cri-dockerd'];

export type ParseResult = { ok: true; state: MigrationState } | { ok: false; error: string };

export function initialState(): MigrationState {
  return { phase: 'Pending', attempt: 0 };
}

/**
 * Parsed once per annotations object: the watch's cache hands out the same node objects until a
 * node changes, so a fleet's admissions, metrics and slot tracking parse each change once. The
 * result is shared and frozen: callers build the next state with spreads.
 */
const parsedStates = new WeakMap<object, ParseResult>();

export function parseState(annotations: Readonly<Record<string, string>>): ParseResult {
  let parsed = parsedStates.get(annotations);
  if (!parsed) {
    parsed = parseStateOnce(annotations);
    // Shared: frozen, so a caller that changed it in place would fail at once, not corrupt others.
    if (parsed.ok) Object.freeze(parsed.state);
    parsedStates.set(annotations, Object.freeze(parsed));
  }
  return parsed;
}

function parseStateOnce(annotations: Readonly<Record<string, string>>): ParseResult {
  const problems: string[] = [];
  const get = (key: string): string | undefined => annotations[key];
  const phaseOf = (key: string): Phase | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if ((PHASES as readonly string[]).includes(value)) return value as Phase;
    problems.push(`${key}="${value}" is not one of ${PHASES.join(', ')}`);
    return undefined;
  };
  const dateOf = (key: string): Date | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    const date = new Date(value);
    if (!/^\d{4}-\d\d-\d\dT/.test(value) || Number.isNaN(date.getTime())) {
      problems.push(`${key}="${value}" is not an RFC 3339 time`);
      return undefined;
    }
    return date;
  };
  const boolOf = (key: string): boolean | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (value === 'true' || value === 'false') return value === 'true';
    problems.push(`${key}="${value}" is not true or false`);
    return undefined;
  };

  const countOf = (key: string): number | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (/^\d{1,6}$/.test(value)) return Number(value);
    problems.push(`${key}="${value}" is not a non-negative integer`);
    return undefined;
  };

  const state: MigrationState = { phase: phaseOf(ANNOTATIONS.phase) ?? 'Pending', attempt: countOf(ANNOTATIONS.attempt) ?? 0 };
  const source = get(ANNOTATIONS.sourceRuntime);
  if (source !== undefined) {
    if ((SOURCE_RUNTIMES as readonly string[]).includes(source)) state.sourceRuntime = source as SourceRuntime;
    else problems.push(`${ANNOTATIONS.sourceRuntime}="${source}" is not one of ${SOURCE_RUNTIMES.join(', ')}`);
  }
  assign(state, 'intent', phaseOf(ANNOTATIONS.intent));
  assign(state, 'failedPhase', phaseOf(ANNOTATIONS.failedPhase));
  assign(state, 'startedAt', dateOf(ANNOTATIONS.startedAt));
  assign(state, 'finishedAt', dateOf(ANNOTATIONS.finishedAt));
  assign(state, 'wasUnschedulable', boolOf(ANNOTATIONS.wasUnschedulable));
  assign(state, 'lastError', get(ANNOTATIONS.lastError));
  assign(state, 'configHash', get(ANNOTATIONS.configHash));
  assign(state, 'previousCriSocket', get(ANNOTATIONS.previousCriSocket));
  assign(state, 'rollbackReason', get(ANNOTATIONS.rollbackReason));
  assign(state, 'blockedBy', get(ANNOTATIONS.blockedBy));
  assign(state, 'nextAttemptAt', dateOf(ANNOTATIONS.nextAttemptAt));
  assign(state, 'unavailableAttempts', countOf(ANNOTATIONS.unavailableAttempts));
  assign(state, 'intentSince', dateOf(ANNOTATIONS.intentSince));
  assign(state, 'backupDir', get(ANNOTATIONS.backupDir));
  assign(state, 'unselectedAt', dateOf(ANNOTATIONS.unselectedAt));
  assign(state, 'warnings', get(ANNOTATIONS.warnings));

  if (problems.length > 0) {
    return { ok: false, error: `unreadable migration state: ${problems.join('; ')}. Fix or remove the annotation(s)` };
  }
  return { ok: true, state };
}

/** All state annotations, with null for the absent ones so a merge patch removes stale values. */
export function serializeState(state: MigrationState): Record<string, string | null> {
  const text = (value: string | undefined) => (value === undefined ? null : truncate(value));
  return {
    [ANNOTATIONS.phase]: state.phase,
    [ANNOTATIONS.intent]: state.intent ?? null,
    [ANNOTATIONS.attempt]: String(state.attempt),
    [ANNOTATIONS.lastError]: text(state.lastError),
    [ANNOTATIONS.startedAt]: state.startedAt?.toISOString() ?? null,
    [ANNOTATIONS.finishedAt]: state.finishedAt?.toISOString() ?? null,
    [ANNOTATIONS.wasUnschedulable]: state.wasUnschedulable === undefined ? null : String(state.wasUnschedulable),
    [ANNOTATIONS.configHash]: state.configHash ?? null,
    [ANNOTATIONS.sourceRuntime]: state.sourceRuntime ?? null,
    [ANNOTATIONS.previousCriSocket]: state.previousCriSocket ?? null,
    [ANNOTATIONS.failedPhase]: state.failedPhase ?? null,
    [ANNOTATIONS.rollbackReason]: text(state.rollbackReason),
    [ANNOTATIONS.blockedBy]: text(state.blockedBy),
    [ANNOTATIONS.nextAttemptAt]: state.nextAttemptAt?.toISOString() ?? null,
    [ANNOTATIONS.unavailableAttempts]: state.unavailableAttempts ? String(state.unavailableAttempts) : null,
    [ANNOTATIONS.intentSince]: state.intentSince?.toISOString() ?? null,
    [ANNOTATIONS.backupDir]: state.backupDir ?? null,
    [ANNOTATIONS.unselectedAt]: state.unselectedAt?.toISOString() ?? null,
    [ANNOTATIONS.warnings]: text(state.warnings),
  };
}

/** Only the annotations whose value differs from what the node has now. */
export function stateDiff(
  current: Readonly<Record<string, string>>,
  next: MigrationState,
): Record<string, string | null> {
  const diff: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(serializeState(next))) {
    const now = current[key];
    if (value === null ? now !== undefined : now !== value) diff[key] = value;
  }
  return diff;
}

export function truncate(text: string, max = MAX_TEXT_ANNOTATION): string {
  return text.length <= max ? text : `${text.slice(0, max - 15)}... (truncated)`;
}

function assign<K extends keyof MigrationState>(state: MigrationState, key: K, value: MigrationState[K] | undefined): void {
  if (value !== undefined) state[key] = value;
}
