import { describe, expect, it } from 'vitest';
import { carryDockerSettings, dockerSizeBytes, kubeletQuantity, readDaemonJson, type CarryContext } from '../../src/host/daemon-json.js';

const ctx: CarryContext = {
  registryMirrors: {},
  insecureRegistries: [],
  plainHttpRegistries: [],
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  systemdCgroup: true,
  kubeletLog: {},
  registryConfigDir: '/etc/containerd/certs.d',
  kubeletConfigPath: '/var/lib/kubelet/config.yaml',
};

// A GPU node's daemon.json as people write it (nvidia-container-toolkit's docs, plus a mirror,
// an insecure registry and log rotation).
const GPU_NODE = {
  'registry-mirrors': ['https://mirror.example.com/', 'https://10.1.2.3:5000'],
  'insecure-registries': ['registry.local:5000', 'http://legacy.local', '10.0.0.0/8', 'index.docker.io'],
  'log-driver': 'json-file',
  'log-opts': { 'max-size': '100m', 'max-file': '3' },
  'exec-opts': ['native.cgroupdriver=systemd'],
  'default-runtime': 'nvidia',
  runtimes: { nvidia: { path: 'nvidia-container-runtime', runtimeArgs: [] } },
  'data-root': '/data/docker',
  'storage-driver': 'overlay2',
  bip: '172.26.0.1/16',
  mtu: 1450,
  'live-restore': true,
};

describe('daemon.json carried over', () => {
  const out = carryDockerSettings(GPU_NODE, ctx);
  const carried = (key: string) => out.carried.filter((c) => c.key === key);

  it('puts registry-mirrors in front of Docker Hub, an insecure-range mirror without verification', () => {
    expect(out.mirrors).toEqual({ 'docker.io': ['https://mirror.example.com', 'https://10.1.2.3:5000'] });
    expect(out.skipVerifyHosts).toEqual(['10.1.2.3:5000']);
    expect(carried('registry-mirrors')[0]!.to).toMatch(/^\/etc\/containerd\/certs.d\/docker.io\/hosts.toml, before Docker Hub \(without verifying 10.1.2.3:5000/);
  });

  it('treats insecure registries as Docker did, drops the scheme, says which CIDRs cannot be carried', () => {
    expect(out.httpsThenHttp).toEqual(['registry.local:5000', 'legacy.local']);
    expect(carried('insecure-registries').map((c) => c.to)).toEqual([
      '/etc/containerd/certs.d/registry.local:5000/hosts.toml (HTTPS without certificate verification, then plain HTTP, as Docker tried it)',
      '/etc/containerd/certs.d/legacy.local/hosts.toml (HTTPS without certificate verification, then plain HTTP, as Docker tried it)',
      'nothing: Docker always verifies Docker Hub, so this entry had no effect',
    ]);
    const cidr = out.warnings.find((w) => w.key === 'insecure-registries')!;
    expect(cidr.message).toMatch(/^CIDR entries 10\.0\.0\.0\/8 cannot be carried: .*containerd\.insecureRegistries/);
  });

  it("converts json-file rotation to the kubelet's quantities (Docker's sizes are decimal)", () => {
    expect(out.kubeletLog).toEqual({ containerLogMaxSize: '100M', containerLogMaxFiles: 3 });
    expect(carried('log-opts').map((c) => c.to)).toEqual([
      '/var/lib/kubelet/config.yaml containerLogMaxSize: 100M (100000000 bytes, Docker\'s sizes are decimal)',
      '/var/lib/kubelet/config.yaml containerLogMaxFiles: 3',
    ]);
  });

  it('makes the nvidia runtime a runc.v2 runtime with BinaryName and the default, SystemdCgroup following the kubelet', () => {
    expect(out.runtimes).toEqual([
      { name: 'nvidia', runtimeType: 'io.containerd.runc.v2', options: { BinaryName: 'nvidia-container-runtime', SystemdCgroup: true } },
    ]);
    expect(out.defaultRuntime).toBe('nvidia');
    expect(carried('exec-opts')[0]!.to).toMatch(/which matches/);
  });

  it('warns about what changes behaviour and cannot be carried; says nothing is needed where containerd behaves the same', () => {
    expect(out.warnings.map((w) => w.key)).toEqual(['insecure-registries', 'data-root', 'network']);
    expect(out.warnings.find((w) => w.key === 'data-root')!.message).toMatch(/\/data\/docker/);
    expect(out.warnings.find((w) => w.key === 'network')!.message).toMatch(/\(bip, mtu\)/);
    expect(carried('storage-driver')[0]!.to).toMatch(/^nothing: /);
    expect(carried('live-restore')[0]!.to).toMatch(/shims keep containers running/);
  });

  it("lets cri-migrator's config and the kubelet's own settings win, and says so", () => {
    const own = carryDockerSettings(GPU_NODE, {
      ...ctx,
      registryMirrors: { 'docker.io': ['https://own.example'] },
      insecureRegistries: ['registry.local:5000'],
      systemdCgroup: false,
      kubeletLog: { maxSize: { value: '50Mi', source: 'containerLogMaxSize: 50Mi in /var/lib/kubelet/config.yaml' } },
    });
    expect(own.mirrors).toEqual({});
    expect(own.carried.find((c) => c.key === 'registry-mirrors')!.overriddenBy).toBe('containerd.registryMirrors["docker.io"]');
    expect(own.httpsThenHttp).toEqual(['legacy.local']);
    expect(own.carried.find((c) => c.value === 'registry.local:5000')!.overriddenBy).toBe('containerd.insecureRegistries');
    expect(own.kubeletLog).toEqual({ containerLogMaxFiles: 3 });
    expect(own.carried.find((c) => c.value === 'max-size=100m')!.overriddenBy).toMatch(/containerLogMaxSize: 50Mi/);
    expect(own.carried.find((c) => c.key === 'exec-opts')!.overriddenBy).toBe("the kubelet's cgroupDriver cgroupfs");
    expect(own.runtimes[0]!.options['SystemdCgroup']).toBe(false);
  });

  it('keeps a shim v2 runtime as Docker 23+ describes it, and warns about runtimeArgs', () => {
    const out2 = carryDockerSettings(
      {
        runtimes: {
          gvisor: { runtimeType: 'io.containerd.runsc.v1', options: { TypeUrl: 'io.containerd.runsc.v1.options', ConfigPath: '/etc/runsc.toml' } },
          debug: { path: '/usr/local/bin/runc', runtimeArgs: ['--debug'] },
        },
        'default-runtime': 'missing',
      },
      ctx,
    );
    expect(out2.runtimes).toEqual([
      { name: 'gvisor', runtimeType: 'io.containerd.runsc.v1', options: { TypeUrl: 'io.containerd.runsc.v1.options', ConfigPath: '/etc/runsc.toml' } },
      { name: 'debug', runtimeType: 'io.containerd.runc.v2', options: { BinaryName: '/usr/local/bin/runc', SystemdCgroup: true } },
    ]);
    expect(out2.defaultRuntime).toBeUndefined();
    expect(out2.warnings.map((w) => w.key)).toEqual(['runtimes', 'default-runtime']);
    expect(out2.warnings[0]!.message).toMatch(/runtimeArgs of debug \(--debug\) cannot be carried/);
  });

  it('warns for other log drivers, the kubelet minimum of 2 files, proxies and unknown keys', () => {
    expect(carryDockerSettings({ 'log-driver': 'journald' }, ctx).warnings[0]!.message).toMatch(/journald; under containerd they are files under \/var\/log\/pods/);
    const one = carryDockerSettings({ 'log-opts': { 'max-size': '10m', 'max-file': '1' } }, ctx);
    expect(one.kubeletLog).toEqual({ containerLogMaxSize: '10M', containerLogMaxFiles: 2 });
    expect(one.carried[1]!.to).toMatch(/the kubelet keeps at least 2 files/);
    const proxies = carryDockerSettings({ proxies: { 'http-proxy': 'http://u:p@proxy:3128', 'no-proxy': '.svc' } }, { ...ctx, noProxy: '10.0.0.0/8' });
    expect(proxies.proxy).toEqual({ httpProxy: 'http://u:p@proxy:3128' });
    expect(proxies.carried[1]!.overriddenBy).toBe('containerd.noProxy');
    expect(carryDockerSettings({ 'made-up-option': 1, debug: true, hosts: ['unix:///var/run/docker.sock'] }, ctx).warnings).toEqual([
      { key: 'made-up-option', message: expect.stringMatching(/not known to cri-migrator/) },
    ]);
  });
});

describe('daemon.json reading and sizes', () => {
  it('reads JSON and reports what to do when it is broken', () => {
    expect(readDaemonJson(null)).toEqual({ kind: 'absent' });
    expect(readDaemonJson('{"debug": true}')).toEqual({ kind: 'parsed', settings: { debug: true } });
    expect(readDaemonJson('{"debug": true,}')).toMatchObject({ kind: 'invalid', problem: expect.stringMatching(/not valid JSON .*containerd.carryDockerSettings=false/) });
    expect(readDaemonJson('[]')).toMatchObject({ kind: 'invalid' });
  });

  it.each([
    ['10m', 10_000_000],
    ['10MiB', 10_000_000],
    ['1.5g', 1_500_000_000],
    ['512k', 512_000],
    ['100', 100],
    ['100b', 100],
    ['20 MB', 20_000_000],
    ['10x', null],
    ['-1m', null],
  ])('Docker size %s is %s bytes', (size, bytes) => {
    expect(dockerSizeBytes(size)).toBe(bytes);
  });

  it.each([
    [10_000_000, '10M'],
    [1_500_000_000, '1500M'],
    [512_000, '512k'],
    [1_000_000_000, '1G'],
    [1234, '1234'],
  ])('%s bytes is the quantity %s', (bytes, quantity) => {
    expect(kubeletQuantity(bytes)).toBe(quantity);
  });
});
