import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config.js';
import { parseFacts } from '../../src/engine/facts.js';
import { renderFiles } from '../../src/engine/files.js';
import { backupCheck, backupScript, renderTemplate, restoreScript, rollbackStages, runAsserts, runBackupDir, runStage, type RunnerContext } from '../../src/engine/playbook-runner.js';
import { loadPlaybooks, parsePlaybook } from '../../src/playbooks/loader.js';
import { factsOutput } from './facts-fixture.js';
import { FakeRemote, silentLog } from './fakes.js';

const config = loadConfig({});
const shipped = loadPlaybooks(config.playbooksDir);

function context(remote: FakeRemote, cfg = config): RunnerContext {
  const facts = parseFacts(factsOutput());
  return { remote, config: cfg, backupDir: runBackupDir(cfg.backupDir, new Date('2026-01-02T03:04:05.678Z')), facts, rendered: renderFiles(facts, cfg), log: silentLog };
}

describe('runBackupDir', () => {
  it('names one directory per migration run, by its start', () => {
    expect(runBackupDir('/var/lib/cri-migrator/backup/', new Date('2026-01-02T03:04:05.678Z'))).toBe('/var/lib/cri-migrator/backup/20260102T030405Z');
    expect(runBackupDir('/b', new Date('2026-01-02T03:04:06Z'))).not.toBe(runBackupDir('/b', new Date('2026-01-02T03:04:05Z')));
  });
});

describe('shipped playbooks', () => {
  it.each(['dockershim', 'cri-dockerd'] as const)('%s validates and covers the required steps', (source) => {
    const { playbook } = shipped[source];
    expect(playbook.source).toBe(source);
    const names = playbook.steps.map((s) => s.name);
    for (const required of ['backup-files', 'stop-kubelet', 'write-containerd-config', 'restart-containerd', 'write-crictl-config', 'preload-sandbox-image', 'write-kubelet-flags', 'start-kubelet']) {
      expect(names).toContain(required);
    }
    expect(names.indexOf('backup-files')).toBe(0);
    // Every file group the engine renders is written by some step.
    const written = playbook.steps.flatMap((s) => ('write' in s ? s.write : []));
    for (const group of ['containerd-config', 'registry-hosts', 'containerd-proxy', 'crictl-config', 'kubeadm-flags', 'kubelet-extra-args', 'kubelet-config', 'instance-config']) {
      expect(written).toContain(group);
    }
  });

  it('renders every command of both playbooks without unknown variables', () => {
    const ctx = context(new FakeRemote());
    for (const { playbook } of Object.values(shipped)) {
      for (const step of playbook.steps) {
        const texts = 'write' in step ? [step.rollback] : [step.check, step.run, step.rollback];
        for (const text of texts) if (text) expect(renderTemplate(text, { backupDir: '', sandboxImage: '', containerdSocket: '', kubeletVersion: '', managedPaths: '', paths: '', backupScript: '', backupCheck: '', restore: '' })).not.toMatch(/\{\{/);
      }
      // And shell accepts the syntax of each rendered script.
      for (const step of playbook.steps) {
        if ('write' in step) continue;
        for (const text of [step.check, step.run]) execFileSync('sh', ['-n', '-c', renderTemplate(text, varsFor(ctx))]);
      }
    }
  });
});

function varsFor(ctx: RunnerContext) {
  const paths = ctx.rendered.files.map((f) => f.path);
  return {
    backupDir: '/b',
    sandboxImage: 'k8s.gcr.io/pause:3.6',
    containerdSocket: 'unix:///run/containerd/containerd.sock',
    kubeletVersion: '1.23.17',
    managedPaths: paths.join(' '),
    paths: paths.join(' '),
    backupScript: backupScript('/b', paths),
    backupCheck: backupCheck('/b', paths),
    restore: restoreScript('/b', paths),
  };
}

describe('playbook schema errors', () => {
  const valid = YAML.parse(readFileSync(shipped.dockershim.path, 'utf8'));
  it.each<[string, (p: any) => void, RegExp]>([
    ['unknown template variable', (p) => (p.steps[0].run = 'echo {{ nope }}'), /unknown template variable \{\{ nope \}\}/],
    ['missing timeout', (p) => delete p.steps[0].timeoutSeconds, /timeoutSeconds/],
    ['missing rollback', (p) => delete p.steps[0].rollback, /rollback/],
    ['unknown file group', (p) => (p.steps[4].write = ['etc-passwd']), /steps\.4/],
    ['duplicate names', (p) => (p.steps[1].name = p.steps[0].name), /duplicate step name/],
    ['kubelet step before runtime step', (p) => p.steps.unshift({ ...p.steps.at(-1) }), /runtime-stage steps must come before/],
    ['unknown field', (p) => (p.steps[0].retry = 3), /Unrecognized key/],
    ['wrong source', (p) => (p.source = 'podman'), /source/],
  ])('%s', (_, mutate, message) => {
    const copy = structuredClone(valid);
    mutate(copy);
    expect(() => parsePlaybook(YAML.stringify(copy), 'bad.yaml')).toThrow(message);
  });
});

describe('playbook runner', () => {
  const { playbook } = shipped.dockershim;

  it('skips steps whose check says done, runs the others, writes changed files only', async () => {
    const remote = new FakeRemote([(cmd, o) => (!o.mutates && cmd.includes('is-active --quiet kubelet') ? { code: 0, stdout: '', stderr: '' } : undefined)]);
    const ctx = context(remote);
    remote.files.set('/etc/crictl.yaml', { content: ctx.rendered.files.find((f) => f.group === 'crictl-config')!.content, mode: 0o644 });
    const reports = await runStage(playbook, 'runtime', ctx);
    expect(Object.fromEntries(reports.map((r) => [r.step, r.outcome]))).toEqual({
      'backup-files': 'done',
      'preload-sandbox-image': 'not-applicable',
      'stop-kubelet': 'already-done',
      'stop-docker': 'done',
      'write-containerd-config': 'done',
      'clear-stale-ingest': 'done',
      'restart-containerd': 'done',
      'write-crictl-config': 'already-done',
    });
    expect(remote.files.get('/etc/containerd/config.toml')?.mode).toBe(0o644);
    // Checks never mutate; every action is flagged as mutating.
    const stopDocker = remote.commands.filter((c) => c.command.includes('disable --now docker.service'));
    expect(stopDocker.every((c) => c.mutates)).toBe(true);
    expect(remote.commands.filter((c) => !c.mutates).length).toBeGreaterThan(3);
  });

  it('runs the preload step only when asked', async () => {
    const remote = new FakeRemote();
    await runStage(playbook, 'runtime', context(remote, loadConfig({ sets: ['containerd.preloadSandboxImage=true'] })));
    expect(remote.commands.some((c) => c.mutates && c.command.includes('docker save k8s.gcr.io/pause:3.6 | ctr -n k8s.io images import -'))).toBe(true);
  });

  it('stops at a failing action with its exit code and stderr', async () => {
    const remote = new FakeRemote([(cmd, o) => (o.mutates && cmd.includes('systemctl restart containerd') ? { code: 1, stdout: '', stderr: 'containerd does not answer CRI requests' } : undefined)]);
    await expect(runStage(playbook, 'runtime', context(remote))).rejects.toThrow(/step restart-containerd failed on root@10.0.0.2:22 \(exit 1\): containerd does not answer CRI requests/);
    expect(remote.files.has('/etc/crictl.yaml')).toBe(false);
  });

  it('rolls back in reverse order and keeps going past a failing undo', async () => {
    const remote = new FakeRemote([(cmd, o) => (o.mutates && cmd.startsWith('systemctl stop kubelet') ? { code: 5, stdout: '', stderr: 'stop failed' } : undefined)]);
    await expect(rollbackStages(playbook, ['kubelet', 'runtime'], context(remote))).rejects.toThrow(/undo of start-kubelet failed \(exit 5\): stop failed/);
    const undo = remote.commands.map((c) => c.command.split('\n')[0]);
    expect(undo[0]).toBe('systemctl stop kubelet.service');
    expect(undo.at(-1)).toBe('systemctl start kubelet.service');
    const restoreConfig = remote.commands.findIndex((c) => c.command.includes("/etc/containerd/config.toml") && c.command.includes('systemctl restart containerd'));
    const startDocker = remote.commands.findIndex((c) => c.command.includes('systemctl start docker.service'));
    expect(restoreConfig).toBeGreaterThan(0);
    expect(startDocker).toBeGreaterThan(restoreConfig);
  });

  it('runs preflight asserts read-only and reports their message', async () => {
    const remote = new FakeRemote([(cmd) => (cmd.includes('docker.service') ? { code: 1, stdout: '', stderr: 'Unit docker.service could not be found.' } : { code: 0, stdout: '', stderr: '' })]);
    const results = await runAsserts(playbook.preflight, context(remote));
    expect(results.find((r) => r.name === 'docker-unit')).toMatchObject({ ok: false, message: expect.stringMatching(/does not look like a dockershim node \(Unit docker.service could not be found.\)/) });
    expect(remote.commands.every((c) => !c.mutates)).toBe(true);
  });
});

describe('backup and restore scripts (run with a real sh)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cri-migrator-backup-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const backup = join(root, 'backup');
  const existing = join(root, 'etc', 'config.toml');
  const absent = join(root, 'etc', 'crictl.yaml');
  const sh = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8' });
  const ok = (script: string) => {
    try {
      sh(script);
      return true;
    } catch {
      return false;
    }
  };

  it('backs up once, marks absent files, and restores both', () => {
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(existing, 'original');
    expect(ok(backupCheck(backup, [existing, absent]))).toBe(false);
    sh(backupScript(backup, [existing, absent]));
    expect(ok(backupCheck(backup, [existing, absent]))).toBe(true);
    expect(readFileSync(`${backup}${existing}`, 'utf8')).toBe('original');
    expect(existsSync(`${backup}${absent}.absent`)).toBe(true);

    // The migration changes the files; a second backup run must not overwrite the originals.
    writeFileSync(existing, 'generated');
    writeFileSync(absent, 'generated');
    sh(backupScript(backup, [existing, absent]));
    expect(readFileSync(`${backup}${existing}`, 'utf8')).toBe('original');

    sh(restoreScript(backup, [existing, absent]));
    expect(readFileSync(existing, 'utf8')).toBe('original');
    expect(existsSync(absent)).toBe(false);
    // Restoring twice is harmless.
    sh(restoreScript(backup, [existing, absent]));
    expect(readFileSync(existing, 'utf8')).toBe('original');
  });
});
