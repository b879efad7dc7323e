import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config.js';
import { parseFacts } from '../../src/host/facts.js';
import { renderFiles } from '../../src/host/files.js';
import { backupCheck, backupScript, ensureBackup, renderTemplate, restoreScript, rollbackStages, runAsserts, runBackupDir, runStage, type RunnerContext } from '../../src/host/playbook-runner.js';
import { loadPlaybooks, parsePlaybook } from '../../src/playbooks/loader.js';
import { factsOutput, type HostSpec } from './facts-fixture.js';
import { FakeRemote, silentLog } from './fakes.js';

const config = loadConfig({});
const shipped = loadPlaybooks(config.playbooksDir);

function context(remote: FakeRemote, cfg = config, host: HostSpec = {}): RunnerContext {
  const facts = parseFacts(factsOutput(host));
  return { remote, config: cfg, backupDir: runBackupDir(cfg.backupDir, new Date('2026-01-02T03:04:05.678Z')), facts, rendered: renderFiles(facts, cfg), log: silentLog };
}

describe('runBackupDir', () => {
  it('names one directory per migration run, by its start', () => {
    expect(runBackupDir('/var/lib/cri-migrator/backup/', new Date('2026-01-02T03:04:05.678Z'))).toBe('/var/lib/cri-migrator/backup/20260102T030405Z');
    expect(runBackupDir('/b', new Date('2026-01-02T03:04:06Z'))).not.toBe(runBackupDir('/b', new Date('2026-01-02T03:04:05Z')));
  });
});

describe('the shipped playbook', () => {
  it.each(['dockershim', 'cri-dockerd'] as const)('validates for %s and covers the required steps', (source) => {
    const playbook = shipped.forSource(source);
    expect(playbook.source).toBe(source);
    const names = playbook.steps.map((s) => s.name);
    for (const required of ['stop-kubelet', 'stop-docker', 'write-containerd-config', 'restart-containerd', 'write-crictl-config', 'carry-images', 'write-kubelet-flags', 'start-kubelet']) {
      expect(names).toContain(required);
    }
    // Every file group the engine renders is written by some step.
    const written = playbook.steps.flatMap((s) => ('write' in s ? s.write : []));
    for (const group of ['containerd-config', 'registry-hosts', 'containerd-proxy', 'crictl-config', 'kubeadm-flags', 'kubelet-extra-args', 'kubelet-config', 'instance-config']) {
      expect(written).toContain(group);
    }
  });

  it('writes the shared steps once: the sources differ only in data and their own assertions', () => {
    const a = shipped.forSource('dockershim');
    const b = shipped.forSource('cri-dockerd');
    expect(a.steps).toBe(b.steps);
    expect(a.dockerUnits).toEqual(['docker.socket', 'docker.service']);
    expect(b.dockerUnits).toEqual(['cri-docker.socket', 'cri-docker.service', 'docker.socket', 'docker.service']);
    expect(a.preflight.map((p) => p.name)).toContain('docker-unit');
    expect(b.preflight.map((p) => p.name)).toContain('cri-dockerd-unit');
    expect(a.preflight.map((p) => p.name)).not.toContain('cri-dockerd-unit');
  });

  it('changes its hash when any step changes', () => {
    const text = readFileSync(shipped.path, 'utf8');
    const edited = parsePlaybook(text.replace('systemctl stop kubelet.service', 'systemctl stop  kubelet.service'), 'edited.yaml');
    expect(edited.sha256).not.toBe(shipped.sha256);
    expect(parsePlaybook(text, 'same.yaml').sha256).toBe(shipped.sha256);
  });

  it('renders every command without unknown variables, and sh accepts each script', () => {
    for (const source of ['dockershim', 'cri-dockerd'] as const) {
      const playbook = shipped.forSource(source);
      const vars = varsFor(context(new FakeRemote()), playbook.dockerUnits);
      for (const step of playbook.steps) {
        const texts = 'write' in step || 'builtin' in step ? [step.rollback] : [step.check, step.run, step.rollback];
        for (const text of texts) {
          if (!text) continue;
          const rendered = renderTemplate(text, vars);
          expect(rendered).not.toMatch(/\{\{/);
          execFileSync('sh', ['-n', '-c', rendered]);
        }
      }
    }
  });
});

function varsFor(ctx: RunnerContext, units: readonly string[]) {
  const paths = ctx.rendered.files.map((f) => f.path);
  return {
    backupDir: '/b',
    sandboxImage: 'k8s.gcr.io/pause:3.6',
    containerdSocket: 'unix:///run/containerd/containerd.sock',
    kubeletVersion: '1.23.17',
    managedPaths: paths.join(' '),
    paths: paths.join(' '),
    restore: restoreScript('/b', paths),
    dockerUnits: units.join(' '),
    dockerUnitsStartOrder: [...units].reverse().join(' '),
  };
}

describe('playbook schema errors', () => {
  const valid = YAML.parse(readFileSync(shipped.path, 'utf8'));
  it.each<[string, (p: any) => void, RegExp]>([
    ['unknown template variable', (p) => (p.steps[1].run = 'echo {{ nope }}'), /unknown template variable \{\{ nope \}\}/],
    ['missing timeout', (p) => delete p.steps[0].timeoutSeconds, /timeoutSeconds/],
    ['missing rollback', (p) => delete p.steps[0].rollback, /rollback/],
    ['unknown file group', (p) => (p.steps[3].write = ['etc-passwd']), /steps\.3/],
    ['duplicate names', (p) => (p.steps[1].name = p.steps[0].name), /duplicate step name/],
    ['a source assertion named like a shared one', (p) => (p.sources.dockershim.preflight[0].name = 'systemd'), /duplicate step name systemd/],
    ['kubelet step before runtime step', (p) => p.steps.unshift({ ...p.steps.at(-1) }), /runtime-stage steps must come before/],
    ['unknown field', (p) => (p.steps[0].retry = 3), /Unrecognized key/],
    ['a source missing', (p) => delete p.sources.dockershim, /sources/],
    ['an unknown source', (p) => (p.sources.podman = p.sources.dockershim), /Unrecognized key/],
    ['a unit that is not a unit', (p) => (p.sources['cri-dockerd'].dockerUnits = ['docker; rm -rf /']), /systemd unit name/],
  ])('%s', (_, mutate, message) => {
    const copy = structuredClone(valid);
    mutate(copy);
    expect(() => parsePlaybook(YAML.stringify(copy), 'bad.yaml')).toThrow(message);
  });
});

describe('playbook runner', () => {
  const playbook = shipped.forSource('dockershim');

  it('backs up every managed file once, before the first step', async () => {
    const remote = new FakeRemote();
    const ctx = context(remote);
    await ensureBackup(ctx);
    const [check, script] = remote.commands;
    expect(check).toMatchObject({ mutates: false, command: expect.stringContaining(`B=${ctx.backupDir}\n`) });
    expect(script).toMatchObject({ mutates: true, command: expect.stringContaining('/etc/containerd/config.toml') });
    // Already backed up: only the check runs.
    const done = new FakeRemote([(cmd, o) => (!o.mutates && cmd.includes('exit 1') ? { code: 0, stdout: '', stderr: '' } : undefined)]);
    await ensureBackup(context(done));
    expect(done.commands).toHaveLength(1);
  });

  it('skips steps whose check says done, runs the others, writes changed files only', async () => {
    const remote = new FakeRemote([(cmd, o) => (!o.mutates && cmd.includes('is-active --quiet kubelet') ? { code: 0, stdout: '', stderr: '' } : undefined)]);
    const ctx = context(remote);
    remote.files.set('/etc/crictl.yaml', { content: ctx.rendered.files.find((f) => f.group === 'crictl-config')!.content, mode: 0o644 });
    const reports = await runStage(playbook, 'runtime', { ...ctx, config: loadConfig({ sets: ['images.carryOver=false'] }) });
    expect(Object.fromEntries(reports.map((r) => [r.step, r.outcome]))).toEqual({
      'carry-images': 'not-applicable',
      'stop-kubelet': 'already-done',
      'stop-docker': 'done',
      'write-containerd-config': 'done',
      'clear-stale-ingest': 'done',
      'restart-containerd': 'done',
      'verify-images': 'not-applicable',
      'write-crictl-config': 'already-done',
    });
    expect(remote.files.get('/etc/containerd/config.toml')?.mode).toBe(0o644);
    // Checks never mutate; every action is flagged as mutating.
    const stopDocker = remote.commands.filter((c) => c.command.includes('systemctl stop $units'));
    expect(stopDocker).toHaveLength(1);
    expect(stopDocker.every((c) => c.mutates)).toBe(true);
    expect(remote.commands.filter((c) => !c.mutates).length).toBeGreaterThan(3);
  });

  it('carries the images the node uses into containerd, records the list, skips those already there, and verifies them through the CRI', async () => {
    const remote = new FakeRemote();
    const progress: string[] = [];
    const ctx = { ...context(remote), onProgress: (m: string) => progress.push(m) };
    await runStage(playbook, 'runtime', ctx);
    const carried = remote.commands.filter((c) => c.mutates && c.command.includes('docker save')).map((c) => c.command);
    expect(carried).toEqual([
      "docker save busybox:1.36 | ctr -n k8s.io images import --all-platforms - && ctr -n k8s.io images ls -q | grep -qxF docker.io/library/busybox:1.36",
      "docker save k8s.gcr.io/kube-proxy:v1.23.17 | ctr -n k8s.io images import --all-platforms - && ctr -n k8s.io images ls -q | grep -qxF k8s.gcr.io/kube-proxy:v1.23.17",
      "docker save k8s.gcr.io/pause:3.6 | ctr -n k8s.io images import --all-platforms - && ctr -n k8s.io images ls -q | grep -qxF k8s.gcr.io/pause:3.6",
    ]);
    expect(remote.files.get(`${ctx.backupDir}.images`)?.content).toBe('docker.io/library/busybox:1.36\nk8s.gcr.io/kube-proxy:v1.23.17\nk8s.gcr.io/pause:3.6\n');
    expect(progress.at(-1)).toMatch(/^carried 3 images, 109\.7 MiB in [\d.]+s \([\d.]+ images\/s, [\d.]+ MiB\/s\); 0 already in containerd$/);
    // Carried before Docker stops, verified after containerd restarts with its CRI on.
    const order = (text: string) => remote.commands.findIndex((c) => c.command.includes(text));
    expect(order('docker save')).toBeLessThan(order('systemctl stop $units'));
    expect(order('inspecti')).toBeGreaterThan(order('systemctl restart containerd.service'));
    expect(remote.commands.find((c) => c.command.includes('inspecti'))!.command).toContain("for r in docker.io/library/busybox:1.36 k8s.gcr.io/kube-proxy:v1.23.17 k8s.gcr.io/pause:3.6; do");

    // Already in containerd: nothing to move.
    const again = new FakeRemote([(cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: '', stderr: '' } : undefined)]);
    const present = context(again, config, { images: { inContainerd: ['docker.io/library/busybox:1.36', 'k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'] } });
    const reports = await runStage(playbook, 'runtime', present);
    expect(reports.find((r) => r.step === 'carry-images')?.outcome).toBe('already-done');
    expect(again.commands.some((c) => c.command.includes('docker save'))).toBe(false);
  });

  it('after Docker stopped, a retry carries nothing and still verifies the recorded list', async () => {
    const remote = new FakeRemote();
    const ctx = context(remote, config, { images: { dockerRunning: false, recorded: ['k8s.gcr.io/pause:3.6', 'docker.io/library/busybox:1.36'], inContainerd: ['k8s.gcr.io/pause:3.6', 'docker.io/library/busybox:1.36'] } });
    await runStage(playbook, 'runtime', ctx);
    expect(remote.commands.some((c) => c.command.includes('docker save'))).toBe(false);
    expect(remote.commands.find((c) => c.command.includes('inspecti'))!.command).toContain('for r in docker.io/library/busybox:1.36 k8s.gcr.io/pause:3.6; do');
  });

  it('names the images that are not in containerd when verifying', async () => {
    const remote = new FakeRemote([(cmd) => (cmd.includes('inspecti') ? { code: 1, stdout: '', stderr: "not in containerd's k8s.io namespace: k8s.gcr.io/pause:3.6" } : undefined)]);
    await expect(runStage(playbook, 'runtime', context(remote))).rejects.toThrow(/images the node needs are not in containerd's k8s.io namespace: k8s.gcr.io\/pause:3.6/);
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
    const startDocker = remote.commands.findIndex((c) => c.command.includes('for u in docker.service docker.socket; do') && c.command.includes('systemctl start "$u"'));
    expect(restoreConfig).toBeGreaterThan(0);
    expect(startDocker).toBeGreaterThan(restoreConfig);
  });

  it('runs preflight asserts read-only and reports their message', async () => {
    const remote = new FakeRemote([(cmd) => (cmd.includes('docker.service') ? { code: 1, stdout: '', stderr: 'Unit docker.service could not be found.' } : { code: 0, stdout: '', stderr: '' })]);
    const results = await runAsserts(playbook, context(remote));
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
