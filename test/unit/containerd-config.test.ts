import { parse, type TomlTable } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import {
  CRI_PLUGIN,
  criPluginDisabled,
  existingMirrors,
  registrySettings,
  renderContainerdConfig,
  renderCrictlConfig,
  renderProxyDropIn,
  renderRegistryHosts,
} from '../../src/engine/containerd-config.js';

const PAUSE = 'registry.k8s.io/pause:3.6';
const base = { systemdCgroup: true, sandboxImage: PAUSE, registries: [] };

function get(table: TomlTable, ...path: string[]): unknown {
  let node: unknown = table;
  for (const key of path) node = (node as TomlTable | undefined)?.[key];
  return node;
}

// The config.toml that Docker's containerd.io package ships.
const DOCKER_PACKAGE_CONFIG = `#   Copyright 2018-2022 Docker Inc.
disabled_plugins = ["cri"]
#root = "/var/lib/containerd"
`;

describe('containerd config.toml generation', () => {
  it.each([
    ['no file', null],
    ["Docker's package config (cri disabled, v1)", DOCKER_PACKAGE_CONFIG],
  ])('from %s: version 2, CRI enabled, runc with the kubelet cgroup driver, sandbox image', (_, existing) => {
    for (const systemdCgroup of [true, false]) {
      const toml = parse(renderContainerdConfig(existing, { ...base, systemdCgroup }));
      expect(toml['version']).toBe(2);
      expect(criPluginDisabled(toml)).toBe(false);
      expect(get(toml, 'plugins', CRI_PLUGIN, 'sandbox_image')).toBe(PAUSE);
      expect(get(toml, 'plugins', CRI_PLUGIN, 'containerd', 'default_runtime_name')).toBe('runc');
      expect(get(toml, 'plugins', CRI_PLUGIN, 'containerd', 'runtimes', 'runc', 'runtime_type')).toBe('io.containerd.runc.v2');
      expect(get(toml, 'plugins', CRI_PLUGIN, 'containerd', 'runtimes', 'runc', 'options', 'SystemdCgroup')).toBe(systemdCgroup);
      expect(get(toml, 'plugins', CRI_PLUGIN, 'registry')).toBeUndefined();
    }
  });

  it('keeps local settings of an existing v2 config and only removes cri from disabled_plugins', () => {
    const existing = `version = 2
root = "/data/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs"]
[debug]
  level = "debug"
[plugins."io.containerd.grpc.v1.cri".registry.configs."r.local".auth]
  username = "u"
`;
    const toml = parse(renderContainerdConfig(existing, base));
    expect(toml['root']).toBe('/data/containerd');
    expect(toml['disabled_plugins']).toEqual(['io.containerd.snapshotter.v1.btrfs']);
    expect(get(toml, 'debug', 'level')).toBe('debug');
    expect(get(toml, 'plugins', CRI_PLUGIN, 'registry', 'configs', 'r.local', 'auth', 'username')).toBe('u');
  });

  it('keeps top-level settings of a v1 config but not its v1 plugin tables', () => {
    const toml = parse(renderContainerdConfig('root = "/srv/c"\n[plugins.cri]\n  sandbox_image = "old"\n', base));
    expect(toml['root']).toBe('/srv/c');
    expect(get(toml, 'plugins', 'cri')).toBeUndefined();
  });

  it('is idempotent: rendering its own output gives the same bytes', () => {
    const registries = registrySettings({ mirrors: { 'docker.io': ['https://m.example'] }, insecure: [], plainHttp: [] });
    const once = renderContainerdConfig(DOCKER_PACKAGE_CONFIG, { ...base, registries });
    expect(renderContainerdConfig(once, { ...base, registries })).toBe(once);
  });

  it('switches registries to config_path and drops the mirrors table containerd refuses next to it', () => {
    const existing = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://old-mirror.example"]
`;
    expect(existingMirrors(parse(existing))).toEqual({ 'docker.io': ['https://old-mirror.example'] });
    const registries = registrySettings({ mirrors: existingMirrors(parse(existing)), insecure: [], plainHttp: [] });
    const toml = parse(renderContainerdConfig(existing, { ...base, registries }));
    expect(get(toml, 'plugins', CRI_PLUGIN, 'registry', 'config_path')).toBe('/etc/containerd/certs.d');
    expect(get(toml, 'plugins', CRI_PLUGIN, 'registry', 'mirrors')).toBeUndefined();
  });

  it('carries custom CNI directories from the old kubelet flags', () => {
    const toml = parse(renderContainerdConfig(null, { ...base, cniBinDir: '/opt/my-cni', cniConfDir: '/etc/my-cni' }));
    expect(get(toml, 'plugins', CRI_PLUGIN, 'cni')).toEqual({ bin_dir: '/opt/my-cni', conf_dir: '/etc/my-cni' });
  });

  it('refuses a containerd 2 (version 3) config and reports bad TOML with the path', () => {
    expect(() => renderContainerdConfig('version = 3\n', base)).toThrow(/version 3/);
    expect(() => renderContainerdConfig('version = = 2', base)).toThrow(/\/etc\/containerd\/config.toml is not valid TOML/);
  });
});

describe('registry hosts.toml', () => {
  const files = renderRegistryHosts(
    registrySettings({
      mirrors: { 'docker.io': ['https://mirror.example/', 'https://mirror2.example'] },
      insecure: ['secure-ish.local:5000'],
      plainHttp: ['http-only.local'],
    }),
    '/etc/containerd/certs.d',
  );
  const byPath = new Map(files.map((f) => [f.path, parse(f.content)]));

  it('writes one file per registry under config_path', () => {
    expect([...byPath.keys()]).toEqual([
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/http-only.local/hosts.toml',
      '/etc/containerd/certs.d/secure-ish.local:5000/hosts.toml',
    ]);
  });

  it('lists mirrors in order before the upstream server', () => {
    const docker = byPath.get('/etc/containerd/certs.d/docker.io/hosts.toml')!;
    expect(docker['server']).toBe('https://registry-1.docker.io');
    expect(Object.keys(docker['host'] as TomlTable)).toEqual(['https://mirror.example', 'https://mirror2.example']);
    expect(get(docker, 'host', 'https://mirror.example', 'capabilities')).toEqual(['pull', 'resolve']);
  });

  it('uses plain http and skip_verify where asked', () => {
    const http = byPath.get('/etc/containerd/certs.d/http-only.local/hosts.toml')!;
    expect(http['server']).toBe('http://http-only.local');
    expect(get(http, 'host', 'http://http-only.local', 'skip_verify')).toBeUndefined();
    const insecure = byPath.get('/etc/containerd/certs.d/secure-ish.local:5000/hosts.toml')!;
    expect(insecure['server']).toBe('https://secure-ish.local:5000');
    expect(get(insecure, 'host', 'https://secure-ish.local:5000', 'skip_verify')).toBe(true);
  });
});

describe('other generated files', () => {
  it('crictl talks to containerd', () => {
    expect(renderCrictlConfig().content).toMatch(/^runtime-endpoint: unix:\/\/\/run\/containerd\/containerd.sock$/m);
  });

  it('proxy drop-in only when a proxy is set, readable by root only', () => {
    expect(renderProxyDropIn({ httpProxy: '', httpsProxy: '', noProxy: 'x' })).toBeNull();
    const dropIn = renderProxyDropIn({ httpProxy: 'http://p:3128', httpsProxy: '', noProxy: '10.0.0.0/8,.svc' })!;
    expect(dropIn.mode).toBe(0o600);
    expect(dropIn.content).toContain('Environment="HTTP_PROXY=http://p:3128"');
    expect(dropIn.content).toContain('Environment="NO_PROXY=10.0.0.0/8,.svc"');
    expect(dropIn.content).not.toContain('HTTPS_PROXY');
  });
});
