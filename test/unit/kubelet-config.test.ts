import { describe, expect, it } from 'vitest';
import { readKubeletConfig, rewriteRuntimeEndpoint, setTopLevelFields } from '../../src/host/kubelet-config.js';

// Shaped like the config.yaml kubeadm 1.32 writes: block sequences without indentation.
const kubeadmConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock
evictionHard:
  imagefs.available: 0%
kind: KubeletConfiguration
tlsCipherSuites: []
`;

describe('kubelet config files', () => {
  it('reads the cgroup driver and the runtime endpoint', () => {
    expect(readKubeletConfig(kubeadmConfig, 'config.yaml')).toEqual({ cgroupDriver: 'systemd', containerRuntimeEndpoint: 'unix:///var/run/cri-dockerd.sock' });
    expect(readKubeletConfig(null, 'config.yaml')).toEqual({});
    expect(() => readKubeletConfig('cgroupDriver: cgroupv2\n', '/var/lib/kubelet/config.yaml')).toThrow(
      '/var/lib/kubelet/config.yaml: cgroupDriver is "cgroupv2", expected systemd or cgroupfs',
    );
  });

  it('changes exactly the containerRuntimeEndpoint line of a kubeadm-written file', () => {
    const out = rewriteRuntimeEndpoint(kubeadmConfig, 'config.yaml')!;
    const before = kubeadmConfig.split('\n');
    const after = out.split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.flatMap((line, i) => (line === after[i] ? [] : [[line, after[i]]]));
    expect(changed).toEqual([['containerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock', 'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock']]);
  });

  it('leaves a file without the field to the flag, and handles other layouts by re-serializing', () => {
    expect(rewriteRuntimeEndpoint('cgroupDriver: systemd\n', 'config.yaml')).toBeNull();
    expect(rewriteRuntimeEndpoint(null, 'config.yaml')).toBeNull();
    const flow = '{containerRuntimeEndpoint: "unix:///var/run/cri-dockerd.sock", clusterDNS: [10.96.0.10]}\n';
    expect(readKubeletConfig(rewriteRuntimeEndpoint(flow, 'config.yaml'), 'config.yaml').containerRuntimeEndpoint).toBe('unix:///run/containerd/containerd.sock');
  });

  it('refuses a file that is not a YAML mapping, naming it', () => {
    expect(() => rewriteRuntimeEndpoint('- a\n- b\n', '/var/lib/kubelet/instance-config.yaml')).toThrow('/var/lib/kubelet/instance-config.yaml: expected a mapping at the top level');
  });

  it('sets the log rotation fields: replaces their lines, or appends them, and touches nothing else', () => {
    const appended = setTopLevelFields(kubeadmConfig, 'config.yaml', { containerLogMaxSize: '100M', containerLogMaxFiles: 3 });
    expect(appended).toBe(`${kubeadmConfig}containerLogMaxSize: 100M\ncontainerLogMaxFiles: 3\n`);
    const withFields = kubeadmConfig.replace('kind: KubeletConfiguration\n', 'containerLogMaxFiles: 5\ncontainerLogMaxSize: 10Mi\nkind: KubeletConfiguration\n');
    const replaced = setTopLevelFields(withFields, 'config.yaml', { containerLogMaxSize: '100M', containerLogMaxFiles: 3 });
    expect(replaced).toBe(withFields.replace('containerLogMaxFiles: 5', 'containerLogMaxFiles: 3').replace('containerLogMaxSize: 10Mi', 'containerLogMaxSize: 100M'));
    expect(readKubeletConfig(replaced, 'config.yaml')).toMatchObject({ containerLogMaxSize: '100M', containerLogMaxFiles: 3 });
    // A flow-style file is re-serialized rather than edited by line.
    const flow = setTopLevelFields('{cgroupDriver: systemd}\n', 'config.yaml', { containerLogMaxFiles: 4 });
    expect(readKubeletConfig(flow, 'config.yaml')).toEqual({ cgroupDriver: 'systemd', containerLogMaxFiles: 4 });
  });
});
