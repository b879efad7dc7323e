import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../src/cli/diff.js';

describe('cli: unified diff', () => {
  it('is empty for equal contents', () => {
    expect(unifiedDiff('/etc/x', 'a\nb\n', 'a\nb\n')).toBe('');
  });

  it('shows a new file against /dev/null', () => {
    expect(unifiedDiff('/etc/crictl.yaml', null, 'runtime-endpoint: unix:///run/containerd/containerd.sock\n')).toBe(
      ['--- /dev/null', '+++ b/etc/crictl.yaml', '@@ -0,0 +1 @@', '+runtime-endpoint: unix:///run/containerd/containerd.sock', ''].join('\n'),
    );
  });

  it('keeps three lines of context and merges nearby changes into one hunk', () => {
    const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20'].join('\n') + '\n';
    const after = before.replace('5\n', 'five\n').replace('7\n', 'seven\n').replace('18\n', '');
    expect(unifiedDiff('/f', before, after)).toBe(
      [
        '--- a/f',
        '+++ b/f',
        '@@ -2,9 +2,9 @@',
        ' 2',
        ' 3',
        ' 4',
        '-5',
        '+five',
        ' 6',
        '-7',
        '+seven',
        ' 8',
        ' 9',
        ' 10',
        '@@ -15,6 +15,5 @@',
        ' 15',
        ' 16',
        ' 17',
        '-18',
        ' 19',
        ' 20',
        '',
      ].join('\n'),
    );
  });

  it('rewrites kubeadm-flags.env the way diff -u shows it', () => {
    const before = 'KUBELET_KUBEADM_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6"\n';
    const after = 'KUBELET_KUBEADM_ARGS="--pod-infra-container-image=k8s.gcr.io/pause:3.6 --container-runtime=remote"\n';
    expect(unifiedDiff('/var/lib/kubelet/kubeadm-flags.env', before, after)).toBe(
      ['--- a/var/lib/kubelet/kubeadm-flags.env', '+++ b/var/lib/kubelet/kubeadm-flags.env', '@@ -1 +1 @@', `-${before.trim()}`, `+${after.trim()}`, ''].join('\n'),
    );
  });

  it('marks a missing final newline like GNU diff', () => {
    expect(unifiedDiff('/f', 'a\nb', 'a\nb\n')).toBe(['--- a/f', '+++ b/f', '@@ -1,2 +1,2 @@', ' a', '-b', '\\ No newline at end of file', '+b', ''].join('\n'));
  });

  it('shows a file emptied', () => {
    expect(unifiedDiff('/f', 'x\ny\n', '')).toBe(['--- a/f', '+++ b/f', '@@ -1,2 +0,0 @@', '-x', '-y', ''].join('\n'));
  });
});
