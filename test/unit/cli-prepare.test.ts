import { describe, expect, it } from 'vitest';
import { prepareNode } from '../../src/cli/prepare.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import { makeNode } from './fakes.js';

const SELECTOR = 'cri-migrator.dev/migrate=containerd';
const unlabelled = (annotations: Record<string, string> = {}) => makeNode({ labels: { 'kubernetes.io/hostname': 'w1' }, annotations });

describe('cli: preparing a named node', () => {
  it('labels a node that lacks the migrate label, and says so', () => {
    const prep = prepareNode(unlabelled(), SELECTOR, { retry: false, command: 'migrate' });
    expect(prep).toEqual({
      kind: 'ready',
      patch: { labels: { 'cri-migrator.dev/migrate': 'containerd' } },
      notes: ['label the node cri-migrator.dev/migrate=containerd (it lacks the selector "cri-migrator.dev/migrate=containerd")'],
    });
  });

  it('leaves a labelled node alone', () => {
    expect(prepareNode(makeNode(), SELECTOR, { retry: false, command: 'migrate' })).toEqual({ kind: 'ready', patch: undefined, notes: [] });
  });

  it('satisfies key and key=value terms of a custom selector', () => {
    const prep = prepareNode(unlabelled(), 'pool=blue,migrate-me', { retry: false, command: 'migrate' });
    expect(prep).toMatchObject({ kind: 'ready', patch: { labels: { pool: 'blue', 'migrate-me': '' } } });
  });

  it('refuses when only removing a label would select the node', () => {
    const node = makeNode({ labels: { frozen: 'yes' } });
    const prep = prepareNode(node, 'cri-migrator.dev/migrate=containerd,!frozen', { retry: false, command: 'migrate' });
    expect(prep).toMatchObject({ kind: 'refused', message: expect.stringMatching(/excluded by the selector .*change its labels or the selector/) });
  });

  it.each(['RolledBack', 'Failed'] as const)('refuses a node that ended %s without --retry, and says how to retry', (phase) => {
    const node = makeNode({ annotations: { [ANNOTATIONS.phase]: phase, [ANNOTATIONS.rollbackReason]: 'verify: smoke pod not Running' } });
    const prep = prepareNode(node, SELECTOR, { retry: false, command: 'migrate' });
    expect(prep).toMatchObject({ kind: 'refused' });
    if (prep.kind !== 'refused') return;
    expect(prep.message).toContain(`w1 ended ${phase}`);
    expect(prep.message).toContain('verify: smoke pod not Running');
    expect(prep.message).toContain('cri-migrator migrate --retry w1');
  });

  it('--retry after RolledBack clears all of our state', () => {
    const node = makeNode({
      annotations: {
        [ANNOTATIONS.phase]: 'RolledBack',
        [ANNOTATIONS.attempt]: '0',
        [ANNOTATIONS.rollbackReason]: 'x',
        [ANNOTATIONS.wasUnschedulable]: 'false',
        [ANNOTATIONS.startedAt]: '2024-05-01T12:00:00.000Z',
        'other.io/keep': 'yes',
      },
    });
    const prep = prepareNode(node, SELECTOR, { retry: true, command: 'migrate' });
    expect(prep).toMatchObject({ kind: 'ready' });
    if (prep.kind !== 'ready') return;
    expect(prep.patch?.annotations).toEqual({
      [ANNOTATIONS.phase]: null,
      [ANNOTATIONS.attempt]: null,
      [ANNOTATIONS.rollbackReason]: null,
      [ANNOTATIONS.wasUnschedulable]: null,
      [ANNOTATIONS.startedAt]: null,
    });
    expect(prep.notes[0]).toMatch(/clear the RolledBack state/);
  });

  it('--retry after Failed keeps what rollback needs: the original cordon, cri-socket and source runtime', () => {
    const node = makeNode({
      unschedulable: true,
      annotations: {
        [ANNOTATIONS.phase]: 'Failed',
        [ANNOTATIONS.wasUnschedulable]: 'false',
        [ANNOTATIONS.previousCriSocket]: 'unix:///var/run/cri-dockerd.sock',
        [ANNOTATIONS.sourceRuntime]: 'cri-dockerd',
        [ANNOTATIONS.failedPhase]: 'Verified',
        [ANNOTATIONS.lastError]: 'boom',
      },
    });
    const prep = prepareNode(node, SELECTOR, { retry: true, command: 'migrate' });
    if (prep.kind !== 'ready') throw new Error('expected ready');
    expect(prep.patch?.annotations).toEqual({ [ANNOTATIONS.phase]: null, [ANNOTATIONS.failedPhase]: null, [ANNOTATIONS.lastError]: null });
  });

  it('an unreadable state is refused, and cleared with --retry', () => {
    const node = makeNode({ annotations: { [ANNOTATIONS.phase]: 'Bogus' } });
    expect(prepareNode(node, SELECTOR, { retry: false, command: 'plan' })).toMatchObject({ kind: 'refused', message: expect.stringContaining('cri-migrator plan --retry w1') });
    expect(prepareNode(node, SELECTOR, { retry: true, command: 'plan' })).toMatchObject({ kind: 'ready', patch: { annotations: { [ANNOTATIONS.phase]: null } } });
  });

  it('--retry on a node that is not finished clears nothing', () => {
    const node = makeNode({ annotations: { [ANNOTATIONS.phase]: 'Drained' } });
    expect(prepareNode(node, SELECTOR, { retry: true, command: 'migrate' })).toEqual({ kind: 'ready', patch: undefined, notes: ['--retry: nothing to clear (phase Drained)'] });
  });
});
