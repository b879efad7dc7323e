// Issue 8 (2): the fleet policy. Window arithmetic in time zones and across midnight, the order
// of the gates, the canary, and halt / pause / resume through the CLI over fakes.
import { describe, expect, it } from 'vitest';
import { migrateCommand, pauseCommand, resumeCommand, statusCommand } from '../../src/cli/commands.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ANNOTATIONS } from '../../src/domain/annotations.js';
import { canaryRoom, inWindow, nextWindowOpening, rolloutGate, type RolloutView } from '../../src/engine/rollout.js';
import { cliWorld } from './cli-world.js';
import { factsOutput } from './facts-fixture.js';
import { makeNode } from './fakes.js';

const at = (iso: string) => new Date(iso);
const quiet: RolloutView = { halts: [], paused: undefined, blockingPods: [], migrated: [] };
const cfg = (rollout: Record<string, unknown>) => loadConfig({ file: { path: 'c.yaml', data: { rollout } } });

describe('maintenance windows', () => {
  const night = { days: ['mon'], startTime: '22:00', endTime: '06:00', timeZone: 'UTC' };
  const berlin = { days: ['saturday'], startTime: '22:00', endTime: '23:00', timeZone: 'Europe/Berlin' };
  it.each<[string, typeof night, string, boolean]>([
    ['Monday 21:59 UTC, before', night, '2026-11-30T21:59:00Z', false],
    ['Monday 22:00 UTC, the start', night, '2026-11-30T22:00:00Z', true],
    ['Tuesday 05:59 UTC, past midnight', night, '2026-12-01T05:59:00Z', true],
    ['Tuesday 06:00 UTC, the end (exclusive)', night, '2026-12-01T06:00:00Z', false],
    ['Tuesday 23:00 UTC: Tuesday is not a start day', night, '2026-12-01T23:00:00Z', false],
    ['Monday 03:00 UTC: the night of Sunday, not listed', night, '2026-11-30T03:00:00Z', false],
    ['Berlin in winter (CET, +1): 21:30 UTC is 22:30', berlin, '2026-12-05T21:30:00Z', true],
    ['Berlin in winter: 22:00 UTC is 23:00, the end', berlin, '2026-12-05T22:00:00Z', false],
    ['Berlin in summer (CEST, +2): 20:30 UTC is 22:30', berlin, '2026-07-04T20:30:00Z', true],
    ['Berlin in summer: 21:30 UTC is 23:30, after', berlin, '2026-07-04T21:30:00Z', false],
  ])('%s', (_, window, when, expected) => {
    const parsed = cfg({ windows: [window] }).rollout.windows[0]!;
    expect(inWindow(at(when), parsed)).toBe(expected);
  });

  it('says when the next window opens, in UTC, across a DST change', () => {
    const windows = cfg({ windows: [{ days: ['sun'], startTime: '02:30', endTime: '04:00', timeZone: 'Europe/Berlin' }] }).rollout.windows;
    // Sunday 2026-10-25 is the end of summer time: 02:30 happens twice; the first is 00:30 UTC.
    expect(nextWindowOpening(at('2026-10-24T12:00:00Z'), windows)?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(nextWindowOpening(at('2026-12-01T12:00:00Z'), windows)?.toISOString()).toBe('2026-12-06T01:30:00.000Z');
  });

  it('refuses bad windows at start-up with the field', () => {
    for (const [window, field] of [
      [{ days: ['someday'], startTime: '22:00', endTime: '06:00' }, /rollout\.windows\[0\]\.days\[0\]: must be a day/],
      [{ days: ['mon'], startTime: '24:00', endTime: '06:00' }, /rollout\.windows\[0\]\.startTime: must be a time of day/],
      [{ days: ['mon'], startTime: '22:00', endTime: '06:00', timeZone: 'Mars/Olympus' }, /rollout\.windows\[0\]\.timeZone: must be an IANA time zone/],
    ] as const) {
      expect(() => cfg({ windows: [window] })).toThrow(ConfigError);
      expect(() => cfg({ windows: [window] })).toThrow(field);
    }
  });
});

describe('the rollout gate', () => {
  const now = at('2026-12-01T12:00:00Z');
  it('halts on a failure until a human resumes; haltOnFailure false goes on', () => {
    const view = { ...quiet, halts: [{ node: 'w1', reason: 'ended RolledBack at x: verify failed' }] };
    expect(rolloutGate(view, cfg({}), now)).toMatchObject({ open: false, reason: 'halted', message: expect.stringMatching(/^rollout halted: w1 ended RolledBack .*run "cri-migrator resume" \(or remove the annotation cri-migrator.dev\/halt from w1\)/) });
    expect(rolloutGate(view, cfg({ haltOnFailure: false }), now)).toEqual({ open: true });
  });

  it('holds back for a pause, a closed window, blocking pods, in that order', () => {
    const paused = { ...quiet, paused: { by: 'cli@laptop/1', at: now, reason: 'change freeze' }, blockingPods: ['backup/job-1'] };
    const config = cfg({ windows: [{ days: ['sat'], startTime: '01:00', endTime: '02:00' }], blockingPodSelector: 'app=backup' });
    expect(rolloutGate(paused, config, now)).toMatchObject({ reason: 'paused', message: expect.stringContaining('paused by cli@laptop/1 at 2026-12-01T12:00:00.000Z (change freeze)') });
    const closed = rolloutGate({ ...paused, paused: undefined }, config, now);
    expect(closed).toMatchObject({ reason: 'window', message: expect.stringContaining('the next opens at 2026-12-05T01:00:00.000Z') });
    expect(closed.open === false && closed.retryAfterMs).toBe(at('2026-12-05T01:00:00Z').getTime() - now.getTime());
    const inside = cfg({ windows: [{ days: ['tue'], startTime: '11:00', endTime: '13:00' }], blockingPodSelector: 'app=backup' });
    expect(rolloutGate({ ...paused, paused: undefined }, inside, now)).toMatchObject({ reason: 'blocking-pods', message: expect.stringContaining('backup/job-1') });
    expect(rolloutGate(quiet, inside, now)).toEqual({ open: true });
  });

  it('canary: N nodes first, then a soak with them healthy, then the rest', () => {
    const config = cfg({ canary: { nodes: 2, soakSeconds: 600 } });
    expect(canaryRoom(quiet, 0, config)).toBe(2);
    expect(canaryRoom({ ...quiet, migrated: [{ node: 'a', finishedAt: now, healthy: true }] }, 1, config)).toBe(0);
    const done = [
      { node: 'a', finishedAt: at('2026-12-01T11:40:00Z'), healthy: true },
      { node: 'b', finishedAt: at('2026-12-01T11:55:00Z'), healthy: true },
    ];
    expect(canaryRoom({ ...quiet, migrated: done }, 0, config)).toBe(Infinity);
    expect(rolloutGate({ ...quiet, migrated: done }, config, now)).toMatchObject({ reason: 'canary', retryAfterMs: 5 * 60_000, message: expect.stringContaining('soaking until 2026-12-01T12:05:00.000Z') });
    expect(rolloutGate({ ...quiet, migrated: [done[0]!, { ...done[1]!, healthy: false }] }, config, now)).toMatchObject({ reason: 'canary', message: expect.stringContaining('canary node(s) b not healthy') });
    expect(rolloutGate({ ...quiet, migrated: done }, config, at('2026-12-01T12:05:00Z'))).toEqual({ open: true });
  });
});

describe('halt, pause and resume through the CLI', () => {
  it('a failed node halts the rollout: the next node is not started until resume', async () => {
    const w = cliWorld({ host: { runc: '' } });
    w.nodes.nodes.set('w3', makeNode({ name: 'w3' }));
    expect(await migrateCommand(w.ctx, ['w1', 'w3'], { retry: false })).toBe(1);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('RolledBack');
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.halt]).toMatch(/^ended RolledBack at .*preflight: checks failed: runc-on-path/);
    expect(w.stdout.join('')).toMatch(/w3: not started: rollout halted: w1 ended RolledBack/);
    expect(w.nodes.nodes.get('w3')!.annotations[ANNOTATIONS.phase]).toBeUndefined();
    expect(w.nodes.nodes.get('w3')!.unschedulable).toBe(false);

    w.stdout.length = 0;
    await statusCommand(w.ctx, 'text');
    expect(w.stdout.join('')).toMatch(/^Rollout: rollout halted: w1 ended RolledBack/);

    w.stdout.length = 0;
    expect(await resumeCommand(w.ctx)).toBe(0);
    expect(w.stdout.join('')).toMatch(/rollout resumed: cleared the halt of w1/);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.halt]).toBeUndefined();
    // The node gets runc (the cause fixed) and is retried: the rollout goes on.
    w.remote.responders.unshift((cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: factsOutput(), stderr: '' } : undefined));
    w.stderr.length = 0;
    expect(await migrateCommand(w.ctx, ['w1'], { retry: true })).toBe(0);
    expect(w.stderr.join('')).toBe('');
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('Succeeded');
  });

  it('pause holds back new nodes (a node in flight finishes); resume lets them go', async () => {
    const w = cliWorld();
    expect(await pauseCommand(w.ctx, 'change freeze')).toBe(0);
    expect(w.engine.rollout.pause).toMatchObject({ by: 'cli@test/1', reason: 'change freeze' });
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(1);
    expect(w.stdout.join('')).toMatch(/w1: not started: rollout paused by cli@test\/1 .*\(change freeze\)/);
    expect(w.events.events).toContainEqual(expect.objectContaining({ node: 'w1', reason: 'MigrationWaiting', message: expect.stringMatching(/^rollout paused/) }));
    await resumeCommand(w.ctx);
    expect(w.engine.rollout.pause).toBeUndefined();
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
  });

  it('a pod matching the blocking selector holds the rollout until it is gone', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['rollout.blockingPodSelector=app=backup'] }) });
    w.engine.rollout.pods.push({ name: 'ops/backup-1', labels: { app: 'backup' } });
    const pass = await (await import('../../src/engine/executor.js')).reconcileNode('w1', w.engine);
    expect(pass).toMatchObject({ kind: 'wait', gate: 'blocking-pods', reason: expect.stringContaining('ops/backup-1') });
    w.engine.rollout.pods.length = 0;
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
  });
});
