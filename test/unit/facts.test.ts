import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { cgroupDriver, cniDirs, defaultSandboxImage, detectSourceRuntime, factsScript, parseFacts, PATHS, sandboxImage } from '../../src/engine/facts.js';
import { renderFiles } from '../../src/engine/files.js';
import { preflightChecks } from '../../src/engine/preflight.js';
import { parseVersion } from '../../src/domain/version.js';
import { DOCKERSHIM_FLAGS, factsOutput } from './facts-fixture.js';
import { makeNode } from './fakes.js';

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
