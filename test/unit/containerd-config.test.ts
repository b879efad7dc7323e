import { readFileSync } from 'node:fs';
import { parse, stringify, type TomlTable } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import {
  CRI_IMAGES_PLUGIN,
  CRI_PLUGIN,
  CRI_RUNTIME_PLUGIN,
  criPluginDisabled,
  existingMirrors,
  existingRegistryTls,
  planContainerdConfig,
  readExistingConfig,
  registryConfigDir,
  registrySettings,
  renderContainerdConfig,
  renderCrictlConfig,
  renderRegistryHosts,
  targetConfigVersion,
  type ConfigVersion,
  type ContainerdConfigOptions,
} from '../../src/host/containerd-config.js';
import { parseVersion } from '../../src/domain/version.js';

const PAUSE = 'registry.k8s.io/pause:3.10';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/containerd/${name}`, import.meta.url), 'utf8');
/** `containerd config default` of each release (test/fixtures/containerd/README.md says how they were made). */
const DEFAULTS = {
  '1.6.20': fixture('default-1.6.20-debian.toml'),
  '2.2.9': fixture('default-2.2.9.toml'),
  '2.4.2': fixture('default-2.4.2.toml'),
};
// What the harness writes on Docker workers: Docker's containerd.io package config (version 1).
const DOCKER_PACKAGE = readFileSync(new URL('../../hack/kind/containerd-docker-package.toml', import.meta.url), 'utf8');

function get(table: unknown, ...path: string[]): unknown {
  let node: unknown = table;
  for (const key of path) node = (node as TomlTable | undefined)?.[key];
  return node;
}

function options(version: ConfigVersion, containerd: string, extra: Partial<ContainerdConfigOptions> = {}): ContainerdConfigOptions {
  return { version, containerdVersion: parseVersion(containerd), systemdCgroup: true, sandboxImage: PAUSE, registries: [], ...extra };
}

/** Where each setting lives in a config of the given version. */
function paths(version: number) {
  const v1 = version === 1;
  const cri = v1 ? 'cri' : CRI_PLUGIN;
  return {
    runtimes: version >= 3 ? ['plugins', CRI_RUNTIME_PLUGIN, 'containerd', 'runtimes'] : ['plugins', cri, 'containerd', 'runtimes'],
    defaultRuntime: version >= 3 ? ['plugins', CRI_RUNTIME_PLUGIN, 'containerd', 'default_runtime_name'] : ['plugins', cri, 'containerd', 'default_runtime_name'],
    sandbox: version >= 3 ? ['plugins', CRI_IMAGES_PLUGIN, 'pinned_images', 'sandbox'] : ['plugins', cri, 'sandbox_image'],
    configPath: version >= 3 ? ['plugins', CRI_IMAGES_PLUGIN, 'registry', 'config_path'] : ['plugins', cri, 'registry', 'config_path'],
    snapshotter: version >= 3 ? ['plugins', CRI_IMAGES_PLUGIN, 'snapshotter'] : ['plugins', cri, 'containerd', 'snapshotter'],
    metricsAddress: version >= 4 ? ['plugins', 'io.containerd.server.v1.metrics', 'address'] : ['metrics', 'address'],
    grpcAddress: version >= 4 ? ['plugins', 'io.containerd.server.v1.grpc', 'address'] : ['grpc', 'address'],
    debugAddress: version >= 4 ? ['plugins', 'io.containerd.server.v1.debug', 'address'] : ['debug', 'address'],
  };
}

function set(table: TomlTable, path: readonly string[], value: TomlTable[string]): void {
  let node = table;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as TomlTable;
  }
  node[path[path.length - 1]!] = value;
}

/** A real default config, or Docker's package config, with the local settings people make. */
function withLocalSettings(text: string, version: number): string {
  const config = parse(text);
  const p = paths(version);
  config['root'] = '/data/containerd';
  config['imports'] = ['/etc/containerd/local.d/*.toml'];
  set(config, ['debug', 'level'], 'debug');
  set(config, p.debugAddress, '/run/containerd/debug.sock');
  set(config, p.metricsAddress, '127.0.0.1:1338');
  set(config, p.grpcAddress, '/run/containerd/containerd.sock');
  set(config, [...p.runtimes, 'kata'], { runtime_type: 'io.containerd.kata.v2', privileged_without_host_devices: true, options: { ConfigPath: '/etc/kata/configuration.toml' } });
  set(config, [...p.runtimes, 'crun'], { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: '/usr/bin/crun', SystemdCgroup: false } });
  set(config, p.configPath, '/etc/containerd/registry.d');
  set(config, p.snapshotter, 'overlayfs');
  if (version === 1) config['disabled_plugins'] = ['cri', 'btrfs'];
  return stringify(config);
}

const inputs = {
  1: withLocalSettings(DOCKER_PACKAGE, 1),
  2: withLocalSettings(DEFAULTS['1.6.20'], 2),
  3: withLocalSettings(DEFAULTS['2.2.9'], 3),
  4: withLocalSettings(DEFAULTS['2.4.2'], 4),
} as const;

describe('config version per containerd release (RELEASES.md: 2 from 1.3, 3 from 2.0, 4 from 2.3)', () => {
  it.each([
    ['1.6.20', 'auto', 2, 'containerd 1.6.20 reads config version 2'],
    ['1.7.27', 'auto', 2, 'containerd 1.7.27 reads config version 2'],
    ['2.0.0', 'auto', 3, 'containerd 2.0.0 reads config version 3'],
    ['2.2.9', 'auto', 3, 'containerd 2.2.9 reads config version 3'],
    ['2.3.0', 'auto', 4, 'containerd 2.3.0 reads config version 4'],
    ['2.4.2', 'auto', 4, 'containerd 2.4.2 reads config version 4'],
    ['2.4.2', 3, 3, 'containerd.configVersion is 3; containerd 2.4.2 reads up to 4 and migrates version 3 in memory at every start'],
  ] as const)('containerd %s, configVersion %s: version %s', (release, setting, version, reason) => {
    expect(targetConfigVersion(parseVersion(release), setting)).toEqual({ ok: true, version, reason });
  });

  it('refuses a configVersion the release cannot read, saying what to set', () => {
    expect(targetConfigVersion(parseVersion('2.2.9'), 4)).toEqual({
      ok: false,
      problem: 'containerd.configVersion is 4, but containerd 2.2.9 reads at most config version 3: set containerd.configVersion to auto or 3',
    });
    expect(targetConfigVersion(parseVersion('1.6.20'), 3)).toMatchObject({ ok: false });
  });
});

describe('config.toml merged into the target version, local settings kept (over real `containerd config default` output)', () => {
  const cases = [
    [1, 2, '1.6.20'],
    [2, 2, '1.6.20'],
    [1, 3, '2.2.9'],
    [2, 3, '2.2.9'],
    [3, 3, '2.2.9'],
    [1, 4, '2.4.2'],
    [2, 4, '2.4.2'],
    [3, 4, '2.4.2'],
    [4, 4, '2.4.2'],
  ] as const;

  it.each(cases)('%s -> %s (containerd %s)', (from, to, release) => {
    const plan = planContainerdConfig(inputs[from], options(to, release));
    if (!plan.ok) throw new Error(plan.problem);
    expect(plan).toMatchObject({ version: to, from });
    expect(plan.migrated.length > 0).toBe((from as number) !== to);
    const toml = parse(plan.content);
    const p = paths(to);
    expect(toml['version']).toBe(to);
    expect(criPluginDisabled(toml)).toBe(false);
    expect(get(toml, ...p.sandbox)).toBe(PAUSE);
    expect(get(toml, ...p.runtimes, 'runc', 'runtime_type')).toBe('io.containerd.runc.v2');
    expect(get(toml, ...p.runtimes, 'runc', 'options', 'SystemdCgroup')).toBe(true);
    expect(get(toml, ...p.defaultRuntime)).toBe('runc');
    // Local settings, where the target version keeps them.
    expect(toml['root']).toBe('/data/containerd');
    expect(toml['imports']).toEqual(['/etc/containerd/local.d/*.toml']);
    expect(get(toml, 'debug', 'level')).toBe('debug');
    expect(get(toml, ...p.debugAddress)).toBe('/run/containerd/debug.sock');
    expect(get(toml, ...p.metricsAddress)).toBe('127.0.0.1:1338');
    expect(get(toml, ...p.grpcAddress)).toBe('/run/containerd/containerd.sock');
    expect(get(toml, ...p.runtimes, 'kata')).toEqual({
      runtime_type: 'io.containerd.kata.v2',
      privileged_without_host_devices: true,
      options: { ConfigPath: '/etc/kata/configuration.toml' },
    });
    // A second runc-type runtime follows the kubelet's cgroup driver too, and keeps its binary.
    expect(get(toml, ...p.runtimes, 'crun', 'options')).toEqual({ BinaryName: '/usr/bin/crun', SystemdCgroup: true });
    expect(get(toml, ...p.configPath)).toBe('/etc/containerd/registry.d');
    expect(get(toml, ...p.snapshotter)).toBe('overlayfs');
    if (from === 1) expect(toml['disabled_plugins']).toEqual(['io.containerd.snapshotter.v1.btrfs']);
    if (to >= 3) {
      // Nothing left under the v2 names but the CRI server's streaming settings.
      const grpcCri = get(toml, 'plugins', CRI_PLUGIN) as TomlTable | undefined;
      const streaming = ['disable_tcp_service', 'stream_server_address', 'stream_server_port', 'stream_idle_timeout', 'enable_tls_streaming', 'x509_key_pair_streaming'];
      expect(Object.keys(grpcCri ?? {}).filter((k) => !streaming.includes(k))).toEqual([]);
    }
    if (to >= 4) {
      expect(get(toml, 'grpc')).toBeUndefined();
      expect(get(toml, 'debug', 'address')).toBeUndefined();
      expect(get(toml, 'metrics', 'address')).toBeUndefined();
    }
    // Rendering its own output again changes nothing.
    expect(renderContainerdConfig(plan.content, options(to, release))).toBe(plan.content);
  });

  it('moves the v2 CRI table the way containerd 2.x migrates it (sandbox image pinned, runtimes and cni under the runtime plugin)', () => {
    const plan = planContainerdConfig(DEFAULTS['1.6.20'], options(3, '2.2.9'));
    if (!plan.ok) throw new Error(plan.problem);
    const toml = parse(plan.content);
    expect(get(toml, 'plugins', CRI_RUNTIME_PLUGIN, 'cni', 'bin_dirs')).toEqual(['/opt/cni/bin']);
    expect(get(toml, 'plugins', CRI_RUNTIME_PLUGIN, 'cni', 'bin_dir')).toBeUndefined();
    expect(get(toml, 'plugins', CRI_IMAGES_PLUGIN, 'max_concurrent_downloads')).toBe(3);
    expect(get(toml, 'plugins', CRI_PLUGIN, 'stream_server_address')).toBe('127.0.0.1');
    expect(get(toml, 'plugins', 'io.containerd.monitor.task.v1.cgroups')).toEqual({ no_prometheus: false });
    expect(get(toml, 'plugins', 'io.containerd.monitor.v1.cgroups')).toBeUndefined();
    // Settings containerd 2.0 removed are dropped (it would warn about each at every start).
    expect(get(toml, 'plugins', CRI_RUNTIME_PLUGIN, 'systemd_cgroup')).toBeUndefined();
    expect(get(toml, 'plugins', CRI_RUNTIME_PLUGIN, 'containerd', 'default_runtime')).toBeUndefined();
    expect(plan.migrated).toContain(`plugins."${CRI_PLUGIN}".sandbox_image -> plugins."${CRI_IMAGES_PLUGIN}".pinned_images.sandbox`);
    expect(plan.migrated.some((n) => n.startsWith('dropped ') && n.includes('systemd_cgroup'))).toBe(true);
    // containerd 2.0 only knows bin_dir.
    const on20 = planContainerdConfig(DEFAULTS['1.6.20'], options(3, '2.0.0'));
    expect(on20.ok && get(parse(on20.content), 'plugins', CRI_RUNTIME_PLUGIN, 'cni', 'bin_dir')).toBe('/opt/cni/bin');
  });

  it('moves the listeners to server plugins for version 4, as containerd 2.3 does (ttrpc follows the grpc socket)', () => {
    const plan = planContainerdConfig(DEFAULTS['2.2.9'], options(4, '2.4.2'));
    if (!plan.ok) throw new Error(plan.problem);
    const toml = parse(plan.content);
    expect(get(toml, 'plugins', 'io.containerd.server.v1.grpc')).toEqual({
      address: '/run/containerd/containerd.sock',
      uid: 0,
      gid: 0,
      max_recv_message_size: 16777216,
      max_send_message_size: 16777216,
    });
    expect(get(toml, 'plugins', 'io.containerd.server.v1.ttrpc')).toEqual({ address: '/run/containerd/containerd.sock.ttrpc', uid: 0, gid: 0 });
    expect(toml['grpc']).toBeUndefined();
    expect(toml['ttrpc']).toBeUndefined();
  });

  it('turns the CRI on in Docker\'s package config (version 1, `disabled_plugins = ["cri"]`) for every target', () => {
    for (const [to, release] of [[2, '1.6.20'], [3, '2.2.9'], [4, '2.4.2']] as const) {
      expect(criPluginDisabled(parse(DOCKER_PACKAGE))).toBe(true);
      const toml = parse(renderContainerdConfig(DOCKER_PACKAGE, options(to, release)));
      expect(criPluginDisabled(toml)).toBe(false);
      expect(toml['disabled_plugins']).toEqual([]);
    }
  });

  it('recognises a disabled CRI under every version\'s names', () => {
    expect(criPluginDisabled(parse('disabled_plugins = ["cri"]'))).toBe(true);
    expect(criPluginDisabled(parse(`version = 2\ndisabled_plugins = ["${CRI_PLUGIN}"]`))).toBe(true);
    expect(criPluginDisabled(parse(`version = 3\ndisabled_plugins = ["${CRI_RUNTIME_PLUGIN}"]`))).toBe(true);
    expect(criPluginDisabled(parse(`version = 4\ndisabled_plugins = ["${CRI_IMAGES_PLUGIN}"]`))).toBe(true);
    expect(criPluginDisabled(parse('version = 3\ndisabled_plugins = ["io.containerd.snapshotter.v1.zfs"]'))).toBe(false);
  });

  it('keeps the default runtime a file names, and takes the one it is given', () => {
    const existing = `version = 3
[plugins."${CRI_RUNTIME_PLUGIN}".containerd]
  default_runtime_name = "nvidia"
[plugins."${CRI_RUNTIME_PLUGIN}".containerd.runtimes.nvidia]
  runtime_type = "io.containerd.runc.v2"
  [plugins."${CRI_RUNTIME_PLUGIN}".containerd.runtimes.nvidia.options]
    BinaryName = "/usr/bin/nvidia-container-runtime"
`;
    const kept = planContainerdConfig(existing, options(3, '2.2.9'));
    expect(kept.ok && kept.defaultRuntime).toBe('nvidia');
    const given = planContainerdConfig(null, options(2, '1.6.20', {
      runtimes: [{ name: 'gvisor', runtimeType: 'io.containerd.runsc.v1', options: { TypeUrl: 'io.containerd.runsc.v1.options' } }],
      defaultRuntime: 'gvisor',
    }));
    if (!given.ok) throw new Error(given.problem);
    expect(given.defaultRuntime).toBe('gvisor');
    const toml = parse(given.content);
    expect(get(toml, 'plugins', CRI_PLUGIN, 'containerd', 'runtimes', 'gvisor')).toEqual({ runtime_type: 'io.containerd.runsc.v1', options: { TypeUrl: 'io.containerd.runsc.v1.options' } });
  });

  it('switches registries to config_path and drops the mirrors table containerd refuses next to it (every version)', () => {
    for (const [existing, to, release] of [
      [`version = 2\n[plugins."${CRI_PLUGIN}".registry.mirrors."docker.io"]\n  endpoint = ["https://old-mirror.example"]\n`, 2, '1.6.20'],
      [`version = 3\n[plugins."${CRI_IMAGES_PLUGIN}".registry.mirrors."docker.io"]\n  endpoint = ["https://old-mirror.example"]\n`, 3, '2.2.9'],
      ['[plugins.cri.registry.mirrors."docker.io"]\n  endpoint = ["https://old-mirror.example"]\n', 3, '2.2.9'],
    ] as const) {
      expect(existingMirrors(parse(existing))).toEqual({ 'docker.io': ['https://old-mirror.example'] });
      const registries = registrySettings({ mirrors: existingMirrors(parse(existing)), insecure: [], plainHttp: [] });
      const out = renderContainerdConfig(existing, options(to, release, { registries }));
      const p = paths(to);
      expect(get(parse(out), ...p.configPath)).toBe('/etc/containerd/certs.d');
      expect(get(parse(out), ...p.configPath.slice(0, -1), 'mirrors')).toBeUndefined();
      expect(registryConfigDir(out)).toBe('/etc/containerd/certs.d');
    }
  });

  it('carries custom CNI directories in the key the release reads', () => {
    const v2 = parse(renderContainerdConfig(null, options(2, '1.6.20', { cniBinDir: '/opt/my-cni', cniConfDir: '/etc/my-cni' })));
    expect(get(v2, 'plugins', CRI_PLUGIN, 'cni')).toEqual({ bin_dir: '/opt/my-cni', conf_dir: '/etc/my-cni' });
    const v3 = parse(renderContainerdConfig(null, options(3, '2.2.9', { cniBinDir: '/opt/my-cni', cniConfDir: '/etc/my-cni' })));
    expect(get(v3, 'plugins', CRI_RUNTIME_PLUGIN, 'cni')).toEqual({ bin_dirs: ['/opt/my-cni'], conf_dir: '/etc/my-cni' });
  });

  it.each([
    ['not TOML', 'version = = 2', /is not valid TOML .*fix the syntax or move the file away/],
    ['an unknown version', 'version = 5\n', /declares version = 5, not a containerd config version cri-migrator knows \(1 to 4\)/],
    ['a version that is not a number', 'version = "3"\n', /declares version = "3"/],
    ['a newer version than the release reads', 'version = 4\n', /is config version 4, newer than version 3 that containerd 2.2.9 is given; containerd 2.2.9 refuses it too/],
  ])('reports %s as a problem, never throwing', (_, text, message) => {
    const plan = planContainerdConfig(text, options(3, '2.2.9'));
    expect(plan.ok).toBe(false);
    expect(!plan.ok && plan.problem).toMatch(message);
  });

  it('refuses to downgrade a version 3 file when told to write version 2', () => {
    const plan = planContainerdConfig(DEFAULTS['2.2.9'], options(2, '2.2.9'));
    expect(!plan.ok && plan.problem).toMatch(/does not downgrade configs: set containerd.configVersion to auto or 3/);
  });

  it('reads a file without version as version 1, and version 0 as 1', () => {
    expect(readExistingConfig('disabled_plugins = ["cri"]\n')).toMatchObject({ kind: 'parsed', version: 1 });
    expect(readExistingConfig('version = 0\n')).toMatchObject({ kind: 'parsed', version: 1 });
    expect(readExistingConfig('  \n')).toEqual({ kind: 'absent' });
  });
});

describe('registry hosts.toml', () => {
  const files = renderRegistryHosts(
    registrySettings({
      mirrors: { 'docker.io': ['https://mirror.example/', 'https://mirror2.example', 'https://10.1.2.3:5000'] },
      insecure: ['secure-ish.local:5000'],
      plainHttp: ['http-only.local'],
      httpsThenHttp: ['docker-insecure.local:5000'],
      skipVerifyMirrors: ['10.1.2.3:5000'],
    }),
    '/etc/containerd/certs.d',
  );
  const byPath = new Map(files.map((f) => [f.path, parse(f.content)]));

  it('writes one file per registry under config_path', () => {
    expect([...byPath.keys()]).toEqual([
      '/etc/containerd/certs.d/docker-insecure.local:5000/hosts.toml',
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/http-only.local/hosts.toml',
      '/etc/containerd/certs.d/secure-ish.local:5000/hosts.toml',
    ]);
  });

  it('lists mirrors in order before the upstream server, an insecure mirror without verification', () => {
    const docker = byPath.get('/etc/containerd/certs.d/docker.io/hosts.toml')!;
    expect(docker['server']).toBe('https://registry-1.docker.io');
    expect(Object.keys(docker['host'] as TomlTable)).toEqual(['https://mirror.example', 'https://mirror2.example', 'https://10.1.2.3:5000']);
    expect(get(docker, 'host', 'https://mirror.example')).toEqual({ capabilities: ['pull', 'resolve'] });
    expect(get(docker, 'host', 'https://10.1.2.3:5000')).toEqual({ capabilities: ['pull', 'resolve'], skip_verify: true });
  });

  it('uses plain http and skip_verify where asked', () => {
    const http = byPath.get('/etc/containerd/certs.d/http-only.local/hosts.toml')!;
    expect(http['server']).toBe('http://http-only.local');
    expect(get(http, 'host', 'http://http-only.local', 'skip_verify')).toBeUndefined();
    const insecure = byPath.get('/etc/containerd/certs.d/secure-ish.local:5000/hosts.toml')!;
    expect(insecure['server']).toBe('https://secure-ish.local:5000');
    expect(get(insecure, 'host', 'https://secure-ish.local:5000', 'skip_verify')).toBe(true);
  });

  it("tries Docker's insecure registries as Docker did: HTTPS without verification, then plain HTTP", () => {
    const docker = byPath.get('/etc/containerd/certs.d/docker-insecure.local:5000/hosts.toml')!;
    expect(docker['host']).toEqual({
      'https://docker-insecure.local:5000': { capabilities: ['pull', 'resolve', 'push'], skip_verify: true },
      'http://docker-insecure.local:5000': { capabilities: ['pull', 'resolve', 'push'] },
    });
    expect(Object.keys(docker['host'] as TomlTable)).toEqual(['https://docker-insecure.local:5000', 'http://docker-insecure.local:5000']);
  });
});

describe('other generated files', () => {
  it('crictl talks to containerd', () => {
    expect(renderCrictlConfig().content).toMatch(/^runtime-endpoint: unix:\/\/\/run\/containerd\/containerd.sock$/m);
  });
});

describe('registry TLS settings of the old config', () => {
  const V2 = `version = 2
[plugins."${CRI_PLUGIN}".registry.configs."registry.corp:5000".tls]
  ca_file = "/etc/certs/corp-ca.pem"
  cert_file = "/etc/certs/client.pem"
  key_file = "/etc/certs/client.key"
[plugins."${CRI_PLUGIN}".registry.configs."registry.corp:5000".auth]
  username = "puller"
[plugins."${CRI_PLUGIN}".registry.configs."selfsigned.local".tls]
  insecure_skip_verify = true
`;
  it('move to hosts.toml (containerd 1.6 refuses configs.tls next to config_path); auth stays', () => {
    const tls = existingRegistryTls(parse(V2));
    expect(tls).toEqual({ 'registry.corp:5000': { ca: '/etc/certs/corp-ca.pem', client: ['/etc/certs/client.pem', '/etc/certs/client.key'] }, 'selfsigned.local': { skipVerify: true } });
    const registries = registrySettings({ mirrors: {}, insecure: [], plainHttp: [], tls });
    const toml = parse(renderContainerdConfig(V2, options(2, '1.6.20', { registries })));
    expect(get(toml, 'plugins', CRI_PLUGIN, 'registry', 'configs')).toEqual({ 'registry.corp:5000': { auth: { username: 'puller' } } });
    expect(get(toml, 'plugins', CRI_PLUGIN, 'registry', 'config_path')).toBe('/etc/containerd/certs.d');
    const hosts = new Map(renderRegistryHosts(registries, '/etc/containerd/certs.d').map((f) => [f.path, parse(f.content)]));
    expect(hosts.get('/etc/containerd/certs.d/registry.corp:5000/hosts.toml')).toEqual({
      server: 'https://registry.corp:5000',
      ca: '/etc/certs/corp-ca.pem',
      client: [['/etc/certs/client.pem', '/etc/certs/client.key']],
    });
    expect(hosts.get('/etc/containerd/certs.d/selfsigned.local/hosts.toml')).toEqual({ server: 'https://selfsigned.local', skip_verify: true });
  });

  it('the auth that containerd 2.x deprecates and 2.4 no longer reads is a warning', () => {
    const on22 = planContainerdConfig(V2, options(3, '2.2.9', { registries: registrySettings({ mirrors: {}, insecure: [], plainHttp: [], tls: existingRegistryTls(parse(V2)) }) }));
    expect(on22.ok && on22.warnings).toEqual([expect.stringMatching(/containerd 2\.x deprecates it \(removed in 2\.4\)/)]);
    const plan = planContainerdConfig(V2, options(4, '2.4.2', { registries: registrySettings({ mirrors: {}, insecure: [], plainHttp: [], tls: existingRegistryTls(parse(V2)) }) }));
    expect(plan.ok && plan.warnings).toEqual([expect.stringMatching(/^registry\.configs \(registry\.corp:5000\) is kept in config\.toml but containerd 2\.4 no longer reads it/)]);
  });
});
