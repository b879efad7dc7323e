import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { cgroupDriver, cniDirs, defaultSandboxImage, detectSourceRuntime, factsScript, gatherFacts, parseFacts, PATHS, sandboxImage } from '../../src/host/facts.js';
import { renderFiles } from '../../src/host/files.js';
import { preflightChecks } from '../../src/host/preflight.js';
import { parseVersion } from '../../src/domain/version.js';
import { DOCKERSHIM_FLAGS, factsOutput, imagesOutput } from './facts-fixture.js';
import { FakeRemote, makeNode } from './fakes.js';

const config = loadConfig({});

describe('facts', () => {
  it('parses the probe output', () => {
    const facts = parseFacts(factsOutput());
    expect(facts.kubeletVersion).toEqual({ major: 1, minor: 23, patch: 17 });
    expect(facts.containerdVersion).toEqual({ major: 1, minor: 6, patch: 20 });
    expect(facts.binaries.runc).toBe('/usr/bin/runc');
    expect(facts.freeDiskMiB).toBe(20 * 1024);
    expect(facts.units).toContain('docker.service');
    expect(facts.files.kubeadmFlags).toEqual({ path: PATHS.kubeadmFlags, content: DOCKERSHIM_FLAGS, fromBackup: false });
    expect(facts.files.crictl).toEqual({ path: PATHS.crictl, content: null, fromBackup: false });
  });

  it('prefers backups, so a resumed run renders from the originals', () => {
    const facts = parseFacts(
      factsOutput({ files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS="--container-runtime=remote"\n' }, backups: { [PATHS.kubeadmFlags]: DOCKERSHIM_FLAGS, [PATHS.crictl]: null } }),
    );
    expect(facts.files.kubeadmFlags).toMatchObject({ content: DOCKERSHIM_FLAGS, fromBackup: true });
    expect(facts.files.crictl).toMatchObject({ content: null, fromBackup: true });
  });

  it('fails clearly without a kubelet', () => {
    expect(() => parseFacts(factsOutput({ kubelet: '' }))).toThrow(/kubelet --version printed nothing/);
  });

  it('derives the cgroup driver: flag, then config file, then the kubelet default', () => {
    expect(cgroupDriver(parseFacts(factsOutput()))).toBe('systemd');
    expect(cgroupDriver(parseFacts(factsOutput({ files: { [PATHS.kubeletConfig]: null } })))).toBe('cgroupfs');
    const withFlag = factsOutput({ files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS="--cgroup-driver=cgroupfs"\n' } });
    expect(cgroupDriver(parseFacts(withFlag))).toBe('cgroupfs');
    const extraWins = factsOutput({ files: { [PATHS.kubeletDefaultsDebian]: 'KUBELET_EXTRA_ARGS=--cgroup-driver=systemd\n', [PATHS.kubeletConfig]: null } });
    expect(cgroupDriver(parseFacts(extraWins))).toBe('systemd');
  });

  it('takes the sandbox image from config, else the kubelet flag, else the version default', () => {
    const facts = parseFacts(factsOutput());
    expect(sandboxImage(facts, config)).toBe('k8s.gcr.io/pause:3.6');
    expect(sandboxImage(facts, loadConfig({ sets: ['containerd.sandboxImage=my.registry/pause:3.9'] }))).toBe('my.registry/pause:3.9');
    expect(sandboxImage(parseFacts(factsOutput({ files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS=""\n' } })), config)).toBe('k8s.gcr.io/pause:3.6');
    expect(defaultSandboxImage(parseVersion('1.20.1'))).toBe('k8s.gcr.io/pause:3.2');
    expect(defaultSandboxImage(parseVersion('1.28.1'))).toBe('registry.k8s.io/pause:3.9');
    expect(defaultSandboxImage(parseVersion('1.32.0'))).toBe('registry.k8s.io/pause:3.10');
  });

  it('carries non-default CNI directories', () => {
    const facts = parseFacts(factsOutput({ files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS="--network-plugin=cni --cni-bin-dir=/opt/x --cni-conf-dir=/etc/cni/net.d"\n' } }));
    expect(cniDirs(facts)).toEqual({ cniBinDir: '/opt/x' });
  });

  it('detects the source runtime', () => {
    expect(detectSourceRuntime(makeNode(), parseFacts(factsOutput()))).toBe('dockershim');
    const criDockerd = factsOutput({
      kubelet: 'Kubernetes v1.26.3',
      files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=unix:///var/run/cri-dockerd.sock"\n' },
    });
    expect(detectSourceRuntime(makeNode(), parseFacts(criDockerd))).toBe('cri-dockerd');
    const viaConfig = factsOutput({
      kubelet: 'Kubernetes v1.29.0',
      files: { [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS=""\n', [PATHS.kubeletConfig]: 'containerRuntimeEndpoint: unix:///run/cri-dockerd.sock\n' },
    });
    expect(detectSourceRuntime(makeNode(), parseFacts(viaConfig))).toBe('cri-dockerd');
  });

  it('finds the units with one systemctl call: every unit systemd has a file for, masked ones too', () => {
    const line = factsScript('/b').split('\n').find((l) => l.startsWith('sec units; '))!;
    expect(line.match(/systemctl/g)).toHaveLength(1);
    // systemctl show prints one paragraph per unit, its properties in its own order.
    const shown = 'Id=docker.service\nLoadState=loaded\n\nLoadState=not-found\nId=docker.socket\n\nId=cri-docker.service\nLoadState=masked\n\nId=kubelet.service\nLoadState=loaded\n';
    const probe = line.replace(/^sec units; systemctl show [^|]*\|/, `printf '%s' '${shown}' |`);
    expect(probe).not.toBe(line);
    expect(execFileSync('sh', ['-c', probe], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual(['docker.service', 'cri-docker.service', 'kubelet.service']);
  });

  it('reads the host and the images over two read-only commands at once, and fails when either is cut short', async () => {
    const hostPart = factsOutput().slice(0, factsOutput().indexOf('@@cri-migrator-images:'));
    const started: string[] = [];
    let inFlight = 0;
    let most = 0;
    const remote = new FakeRemote([
      (cmd) => {
        started.push(cmd.includes('@@cri-migrator-images:') ? 'images' : 'host');
        return cmd.includes('@@cri-migrator-images:') ? { code: 0, stdout: imagesOutput({ inContainerd: ['docker.io/library/busybox:1.36'] }), stderr: '' } : { code: 0, stdout: hostPart, stderr: '' };
      },
    ]);
    const exec = remote.exec.bind(remote);
    remote.exec = async (command, options) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return exec(command, options);
    };
    const facts = await gatherFacts(remote, config, '/b');
    expect(started.sort()).toEqual(['host', 'images']);
    expect(most).toBe(2);
    expect(remote.commands.every((c) => !c.mutates)).toBe(true);
    expect(facts.kubeletVersion.minor).toBe(23);
    expect(facts.images.inContainerd).toEqual(['docker.io/library/busybox:1.36']);
    const cut = new FakeRemote([
      (cmd) => (cmd.includes('@@cri-migrator-images:') ? { code: 255, stdout: '@@cri-migrator-images:docker-running\nyes\n', stderr: 'broken pipe' } : { code: 0, stdout: hostPart, stderr: '' }),
    ]);
    await expect(gatherFacts(cut, config, '/b')).rejects.toThrow(/gathering the images probe on .* failed \(exit 255\): broken pipe/);
  });

  it('reads files read-only and from the backup directory first', () => {
    const script = factsScript('/var/lib/cri-migrator/backup');
    expect(script).toContain("B=/var/lib/cri-migrator/backup");
    expect(script).not.toMatch(/\b(rm|mv|cp|tee|sed -i)\b/);
  });
});

describe('preflight verdicts', () => {
  const verdicts = (spec: Parameters<typeof factsOutput>[0], source: 'dockershim' | 'cri-dockerd' = 'dockershim', cfg = config) => {
    const facts = parseFacts(factsOutput(spec));
    return Object.fromEntries(preflightChecks(facts, cfg, source, renderFiles(facts, cfg)).map((r) => [r.name, r]));
  };

  it('passes on a healthy dockershim node', () => {
    const results = verdicts({});
    expect(Object.values(results).filter((r) => !r.ok)).toEqual([]);
  });

  it.each<[string, Parameters<typeof factsOutput>[0], string, RegExp]>([
    ['no containerd', { containerd: null }, 'containerd-installed', /install containerd/],
    ['old containerd for kubelet 1.26', { kubelet: 'Kubernetes v1.26.0', containerd: 'containerd github.com/containerd/containerd v1.5.9 x', units: ['cri-docker.service'] }, 'containerd-version', /1\.6\+ is needed/],
    ['no runc on the systemd PATH', { runc: '' }, 'runc-on-path', /runc is not on the PATH/],
    ['no crictl', { crictl: '' }, 'crictl-installed', /cri-tools/],
    ['no overlay', { overlay: false }, 'overlayfs', /modprobe overlay/],
    ['xfs without d_type', { fsType: 'xfs', xfsFtype: 'ftype=0' }, 'filesystem-d_type', /ftype=0/],
    ['little disk', { freeKiB: 100 * 1024 }, 'disk-space', /only 100 MiB free/],
    ['kubelet too new', { kubelet: 'Kubernetes v1.35.0' }, 'kubelet-version', /outside the supported range/],
    ['dockershim playbook on 1.24', { kubelet: 'Kubernetes v1.24.0' }, 'source-dockershim', /kubelet <= 1.23/],
  ])('%s', (_, spec, name, message) => {
    const result = verdicts(spec, name === 'containerd-version' ? 'cri-dockerd' : 'dockershim')[name]!;
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(message);
  });

  it('xfs with d_type is fine', () => {
    expect(verdicts({ fsType: 'xfs', xfsFtype: 'ftype=1' })['filesystem-d_type']!.ok).toBe(true);
  });
});

describe('rendered files', () => {
  it('renders every file from the facts, with kubelet-config only when it names a runtime', () => {
    const facts = parseFacts(factsOutput());
    const rendered = renderFiles(facts, loadConfig({ sets: ['containerd.registryMirrors={"docker.io":["https://m.example"]}', 'containerd.httpProxy=http://p:3128'] }));
    expect(rendered.sandboxImage).toBe('k8s.gcr.io/pause:3.6');
    expect(rendered.systemdCgroup).toBe(true);
    expect(rendered.files.map((f) => `${f.group} ${f.path}`)).toEqual([
      'containerd-config /etc/containerd/config.toml',
      'registry-hosts /etc/containerd/certs.d/docker.io/hosts.toml',
      'containerd-proxy /etc/systemd/system/containerd.service.d/http-proxy.conf',
      'crictl-config /etc/crictl.yaml',
      'kubeadm-flags /var/lib/kubelet/kubeadm-flags.env',
    ]);
    const withEndpoint = parseFacts(factsOutput({
      kubelet: 'Kubernetes v1.29.0',
      files: {
        [PATHS.kubeletConfig]: '# mine\ncgroupDriver: systemd\ncontainerRuntimeEndpoint: unix:///run/cri-dockerd.sock\n',
        [PATHS.instanceConfig]: 'containerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock\n',
      },
    }));
    const files = renderFiles(withEndpoint, config).files;
    expect(files.find((f) => f.group === 'kubelet-config')?.content).toBe('# mine\ncgroupDriver: systemd\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
    expect(files.find((f) => f.group === 'instance-config')?.content).toBe('containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
  });
});

describe('containerd 2.x targets and daemon.json on a node', () => {
  const DAEMON_JSON = JSON.stringify({
    'registry-mirrors': ['https://mirror.example.com'],
    'insecure-registries': ['registry.local:5000', '10.0.0.0/8'],
    'log-opts': { 'max-size': '50m', 'max-file': '4' },
    runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime' } },
    'default-runtime': 'nvidia',
    'data-root': '/data/docker',
  });
  const V3 = `version = 3
root = "/data/containerd"
[debug]
  level = "debug"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kata]
  runtime_type = "io.containerd.kata.v2"
`;
  const node = (spec: Parameters<typeof factsOutput>[0] = {}, cfg = config) => {
    // The 1.32 sandbox image is already in containerd here; image carry-over has its own tests.
    const images = { inContainerd: ['registry.k8s.io/pause:3.10'] };
    const facts = parseFacts(factsOutput({ kubelet: 'Kubernetes v1.32.2', containerd: 'containerd github.com/containerd/containerd/v2 2.2.9+unknown ', units: ['cri-docker.service'], images, ...spec }));
    const rendered = renderFiles(facts, cfg);
    const checks = preflightChecks(facts, cfg, 'cri-dockerd', rendered);
    return { facts, rendered, checks, byName: Object.fromEntries(checks.map((c) => [c.name, c])) };
  };

  it('reads daemon.json with the other files (from the backup first)', () => {
    const facts = parseFacts(factsOutput({ files: { [PATHS.dockerDaemonJson]: DAEMON_JSON } }));
    expect(facts.files.dockerDaemonJson).toEqual({ path: '/etc/docker/daemon.json', content: DAEMON_JSON, fromBackup: false });
  });

  it('merges into an existing version 3 config on containerd 2.2.9 instead of refusing it, and says why version 3', () => {
    const { rendered, checks, byName } = node({ files: { [PATHS.containerdConfig]: V3 } });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(rendered.containerd).toMatchObject({ version: 3, from: 3, reason: 'containerd 2.2.9 reads config version 3' });
    expect(byName['containerd-config-version']!.message).toBe(
      'writes config version 3: containerd 2.2.9 reads config version 3; the existing file is version 3 too; default runtime runc',
    );
    const toml = rendered.files.find((f) => f.group === 'containerd-config')!.content;
    expect(toml).toMatch(/^version = 3$/m);
    expect(toml).toContain('root = "/data/containerd"');
    expect(toml).toContain('[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kata]');
  });

  it("carries daemon.json: mirrors and insecure registries to hosts.toml, log rotation to the kubelet, nvidia as the default runtime", () => {
    const kubeletConfig = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\ncontainerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock\n';
    const { rendered, checks } = node({ files: { [PATHS.dockerDaemonJson]: DAEMON_JSON, [PATHS.kubeletConfig]: kubeletConfig, [PATHS.kubeadmFlags]: 'KUBELET_KUBEADM_ARGS=""\n' } });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(rendered.files.map((f) => f.path)).toEqual([
      '/etc/containerd/config.toml',
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/registry.local:5000/hosts.toml',
      '/etc/crictl.yaml',
      '/var/lib/kubelet/kubeadm-flags.env',
      '/var/lib/kubelet/config.yaml',
    ]);
    const toml = rendered.files[0]!.content;
    expect(toml).toContain('default_runtime_name = "nvidia"');
    expect(toml).toMatch(/\[plugins\."io\.containerd\.cri\.v1\.runtime"\.containerd\.runtimes\.nvidia\.options\]\nBinaryName = "\/usr\/bin\/nvidia-container-runtime"\nSystemdCgroup = true/);
    expect(rendered.files[2]!.content).toContain('[host."http://registry.local:5000"]');
    expect(rendered.files[5]!.content).toBe(
      `${kubeletConfig.replace('unix:///var/run/cri-dockerd.sock', 'unix:///run/containerd/containerd.sock')}containerLogMaxSize: 50M\ncontainerLogMaxFiles: 4\n`,
    );
    // The plan sees each item, and each warning, without failing preflight.
    const info = checks.filter((c) => c.severity === 'info' && c.name !== 'images').map((c) => c.message);
    expect(info).toEqual([
      expect.stringMatching(/^daemon.json insecure-registries registry.local:5000 -> \/etc\/containerd\/certs.d\/registry.local:5000\/hosts.toml/),
      expect.stringMatching(/^daemon.json registry-mirrors https:\/\/mirror.example.com -> \/etc\/containerd\/certs.d\/docker.io\/hosts.toml/),
      expect.stringMatching(/^daemon.json log-opts max-size=50m -> \/var\/lib\/kubelet\/config.yaml containerLogMaxSize: 50M/),
      expect.stringMatching(/^daemon.json log-opts max-file=4 -> /),
      expect.stringMatching(/^daemon.json runtimes nvidia: \/usr\/bin\/nvidia-container-runtime -> config.toml runtimes.nvidia/),
      expect.stringMatching(/^daemon.json default-runtime nvidia -> config.toml default_runtime_name = "nvidia"/),
    ]);
    const warnings = checks.filter((c) => c.severity === 'warning');
    expect(warnings.map((c) => c.name)).toEqual(['daemon-json-insecure-registries', 'daemon-json-data-root']);
    expect(warnings.every((c) => c.ok)).toBe(true);
  });

  it("lets cri-migrator's settings win and says so; carryDockerSettings=false ignores the file", () => {
    const own = loadConfig({ sets: ['containerd.registryMirrors={"docker.io":["https://own.example"]}'] });
    const { checks, rendered } = node({ files: { [PATHS.dockerDaemonJson]: DAEMON_JSON } }, own);
    expect(checks.find((c) => c.name === 'carried-registry-mirrors')!.message).toBe(
      'daemon.json registry-mirrors https://mirror.example.com: not carried, containerd.registryMirrors["docker.io"] wins',
    );
    expect(rendered.files.find((f) => f.path.endsWith('docker.io/hosts.toml'))!.content).not.toContain('mirror.example.com');
    const off = node({ files: { [PATHS.dockerDaemonJson]: DAEMON_JSON } }, loadConfig({ sets: ['containerd.carryDockerSettings=false'] }));
    expect(off.rendered.carried).toEqual([]);
    expect(off.rendered.files[0]!.content).toContain('default_runtime_name = "runc"');
  });

  it.each([
    ['an unparsable config.toml', { [PATHS.containerdConfig]: 'version = = 3' }, 'containerd-config', /not valid TOML/],
    ['a version 4 config on containerd 2.2.9', { [PATHS.containerdConfig]: 'version = 4\n' }, 'containerd-config', /containerd 2.2.9 refuses it too/],
    ['an unparsable daemon.json', { [PATHS.dockerDaemonJson]: '{"a":' }, 'daemon-json', /not valid JSON/],
  ])('%s fails preflight before anything changes, saying what to do', (_, files, name, message) => {
    const { byName, rendered } = node({ files });
    expect(byName[name]).toMatchObject({ ok: false, message: expect.stringMatching(message) });
    expect(rendered.blockers.map((b) => b.name)).toEqual([name]);
    if (name === 'containerd-config') expect(rendered.files.some((f) => f.group === 'containerd-config')).toBe(false);
  });

  it('writes version 4 for containerd 2.4 and version 2 for 1.6 from the same Docker package config', () => {
    expect(node({ containerd: 'containerd github.com/containerd/containerd/v2 2.4.2+unknown ' }).rendered.containerd).toMatchObject({ version: 4, from: 1 });
    expect(node({ containerd: 'containerd containerd.io 1.6.20 abc' }).rendered.containerd).toMatchObject({ version: 2, from: 1 });
  });
});
