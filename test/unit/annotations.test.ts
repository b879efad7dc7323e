import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, initialState, parseState, serializeState, stateDiff, truncate } from '../../src/domain/annotations.js';
import type { MigrationState } from '../../src/domain/types.js';

const full: MigrationState = {
  phase: 'Drained',
  intent: 'RuntimeConfigured',
  attempt: 2,
  lastError: 'configureRuntime: exit 1',
  startedAt: new Date('2024-05-01T10:00:00.000Z'),
  wasUnschedulable: false,
  configHash: 'abc123',
  sourceRuntime: 'dockershim',
  previousCriSocket: '/var/run/dockershim.sock',
  blockedBy: 'default/web-1 (PodDisruptionBudget web)',
};

function withoutNulls(record: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => e[1] !== null));
}

describe('migration state annotations', () => {
  it('round-trips every field', () => {
    const parsed = parseState(withoutNulls(serializeState(full)));
    expect(parsed).toEqual({ ok: true, state: full });
  });

  it('round-trips a terminal state with a rollback reason', () => {
    const state: MigrationState = { phase: 'RolledBack', attempt: 0, failedPhase: 'KubeletSwitched', rollbackReason: 'verify failed', finishedAt: new Date('2024-05-01T11:00:00.000Z') };
    expect(parseState(withoutNulls(serializeState(state)))).toEqual({ ok: true, state });
  });

  it('reads no annotations as Pending', () => {
    expect(parseState({ unrelated: 'x' })).toEqual({ ok: true, state: initialState() });
  });

  it('writes null for absent fields so a merge patch clears them', () => {
    const out = serializeState({ phase: 'Cordoned', attempt: 0 });
    expect(out[ANNOTATIONS.phase]).toBe('Cordoned');
    expect(out[ANNOTATIONS.intent]).toBeNull();
    expect(out[ANNOTATIONS.lastError]).toBeNull();
  });

  it.each([
    [ANNOTATIONS.phase, 'Drainin', /is not one of Pending/],
    [ANNOTATIONS.intent, 'later', /cri-migrator.dev\/intent="later"/],
    [ANNOTATIONS.attempt, '-1', /not a non-negative integer/],
    [ANNOTATIONS.startedAt, 'yesterday', /not an RFC 3339 time/],
    [ANNOTATIONS.wasUnschedulable, 'yes', /not true or false/],
    [ANNOTATIONS.sourceRuntime, 'podman', /not one of dockershim, cri-dockerd/],
  ])('reports a bad %s value', (key, value, pattern) => {
    const parsed = parseState({ [key]: value });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toMatch(pattern);
      expect(parsed.error).toMatch(/Fix or remove/);
    }
  });

  it('diffs only what changed, including removals', () => {
    const current = withoutNulls(serializeState(full));
    const next: MigrationState = { ...full, phase: 'RuntimeConfigured', attempt: 0 };
    delete next.intent;
    delete next.lastError;
    expect(stateDiff(current, next)).toEqual({
      [ANNOTATIONS.phase]: 'RuntimeConfigured',
      [ANNOTATIONS.intent]: null,
      [ANNOTATIONS.attempt]: '0',
      [ANNOTATIONS.lastError]: null,
    });
    expect(stateDiff(current, full)).toEqual({});
  });

  it('truncates long texts', () => {
    const long = 'x'.repeat(5000);
    const out = serializeState({ phase: 'Failed', attempt: 3, lastError: long })[ANNOTATIONS.lastError]!;
    expect(out.length).toBe(1024);
    expect(out.endsWith('(truncated)')).toBe(true);
    expect(truncate('short')).toBe('short');
  });
});
