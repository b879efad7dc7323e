import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../src/domain/version.js';
import { envFileArgs, flagValue, rewriteEnvFile, rewriteKubeletArgs, splitArgs } from '../../src/host/kubelet-flags.js';

const SOCKET = 'unix:///run/containerd/containerd.sock';
const PAUSE = 'registry.k8s.io/pause:3.9';

// What kubeadm wrote for Docker: dockershim on <= 1.23, cri-dockerd on >= 1.24.
function dockerFlags(minor: number): string {
  if (minor <= 23) return `KUBELET_KUBEADM_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.${minor - 18}"`;
  const runtime = minor <= 26 ? '--container-runtime=remote ' : '';
  return `KUBELET_KUBEADM_ARGS="${runtime}--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"`;
}

describe('kubeadm-flags.env rewriting for kubelet 1.20 .. 1.32', () => {
  const minors = Array.from({ length: 13 }, (_, i) => 20 + i);
  it.each(minors)('kubelet 1.%i', (minor) => {
    const version = parseVersion(`v1.${minor}.5`);
    const out = rewriteEnvFile(`${dockerFlags(minor)}\n`, {
      variable: 'KUBELET_KUBEADM_ARGS',
      options: { kubeletVersion: version, sandboxImage: PAUSE, ensureEndpoint: true },
    })!;
    const words = envFileArgs(out, 'KUBELET_KUBEADM_ARGS');
    expect(words).not.toContain('--network-plugin=cni');
    expect(words.some((w) => w.startsWith('--network-plugin'))).toBe(false);
    expect(words.some((w) => w.includes('cri-dockerd'))).toBe(false);
    expect(flagValue(words, '--container-runtime-endpoint')).toBe(SOCKET);
    // --container-runtime exists up to 1.26 and is gone from 1.27.
    expect(flagValue(words, '--container-runtime')).toBe(minor <= 26 ? 'remote' : undefined);
    // The pause image flag is kept (and made to agree with containerd's sandbox_image).
    expect(flagValue(words, '--pod-infra-container-image')).toBe(PAUSE);
    expect(words.filter((w) => w.startsWith('--container-runtime-endpoint'))).toHaveLength(1);
    // Rewriting again changes nothing: a resumed migration is safe.
    expect(rewriteEnvFile(out, { variable: 'KUBELET_KUBEADM_ARGS', options: { kubeletVersion: version, sandboxImage: PAUSE, ensureEndpoint: true } })).toBe(out);
  });

  it('drops every dockershim flag and keeps unrelated ones, in both flag styles', () => {
    const words = splitArgs(
      '--network-plugin cni --cni-bin-dir=/opt/cni/bin --cni-conf-dir /etc/cni/net.d --docker-endpoint=unix:///var/run/docker.sock ' +
        '--image-pull-progress-deadline=2m --node-ip=10.0.0.5 --cgroup-driver=systemd --experimental-dockershim --max-pods 200',
    );
    const out = rewriteKubeletArgs(words, { kubeletVersion: parseVersion('1.22.3'), sandboxImage: PAUSE, ensureEndpoint: true });
    expect(out).toEqual([
      '--node-ip=10.0.0.5',
      '--cgroup-driver=systemd',
      '--max-pods',
      '200',
      '--container-runtime=remote',
      `--container-runtime-endpoint=${SOCKET}`,
    ]);
  });

  it('drops the pause image flag from 1.35, which removed it', () => {
    const out = rewriteKubeletArgs(['--pod-infra-container-image=x'], { kubeletVersion: parseVersion('1.35.0'), sandboxImage: PAUSE, ensureEndpoint: true });
    expect(out).toEqual([`--container-runtime-endpoint=${SOCKET}`]);
  });

  it('creates the file when kubeadm-flags.env is missing', () => {
    const out = rewriteEnvFile(null, { variable: 'KUBELET_KUBEADM_ARGS', options: { kubeletVersion: parseVersion('1.28.0'), sandboxImage: PAUSE, ensureEndpoint: true } });
    expect(out).toBe(`KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=${SOCKET}"\n`);
  });

  it('fixes KUBELET_EXTRA_ARGS only where it names the runtime, keeping other lines', () => {
    const options = { kubeletVersion: parseVersion('1.23.1'), sandboxImage: PAUSE, ensureEndpoint: false };
    const untouched = '# local\nKUBELET_EXTRA_ARGS=--node-labels=a=b\n';
    expect(rewriteEnvFile(untouched, { variable: 'KUBELET_EXTRA_ARGS', options })).toBe('# local\nKUBELET_EXTRA_ARGS="--node-labels=a=b"\n');
    const docker = 'OTHER=1\nKUBELET_EXTRA_ARGS="--container-runtime=docker --network-plugin=kubenet --v=2"\n';
    expect(rewriteEnvFile(docker, { variable: 'KUBELET_EXTRA_ARGS', options })).toBe(
      `OTHER=1\nKUBELET_EXTRA_ARGS="--v=2 --container-runtime=remote --container-runtime-endpoint=${SOCKET}"\n`,
    );
    expect(rewriteEnvFile('OTHER=1\n', { variable: 'KUBELET_EXTRA_ARGS', options })).toBe('OTHER=1\n');
  });

  it('splits quoted words and rejects unbalanced quotes', () => {
    expect(splitArgs(`--a="x y" --b='z' --c=`)).toEqual(['--a=x y', '--b=z', '--c=']);
    expect(() => splitArgs('--a="x')).toThrow(/unbalanced/);
  });

  it('lets the last occurrence of a flag win, as the kubelet does', () => {
    expect(flagValue(['--cgroup-driver=cgroupfs', '--cgroup-driver=systemd'], '--cgroup-driver')).toBe('systemd');
  });
});
