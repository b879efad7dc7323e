// What the node's Docker was told in /etc/docker/daemon.json, carried over to containerd and the
// kubelet where an equivalent exists, and named as a warning where it does not. Pure.
//
// Docker's semantics followed here (moby: daemon/pkg/registry, daemon/logger/jsonfilelog, go-units):
// - registry-mirrors apply to Docker Hub only, tried in order before it; a mirror whose host is an
//   insecure registry is reached without verifying its certificate.
// - insecure-registries: host[:port] entries (an http:// or https:// prefix is dropped, as Docker
//   does) are tried over HTTPS without verifying the certificate, then over plain HTTP; CIDR
//   entries match registries by their resolved address, which containerd cannot do; Docker Hub
//   is always verified.
// - log-opts max-size is a decimal size (go-units FromHumanSize: "10m" is 10,000,000 bytes, and
//   so is "10MiB"); max-file defaults to 1.
import { BlockList, isIP } from 'node:net';
import type { RuntimeSpec } from './containerd-config.js';

export const DAEMON_JSON_PATH = '/etc/docker/daemon.json';

export type DaemonJsonRead =
  | { kind: 'absent' }
  | { kind: 'parsed'; settings: Readonly<Record<string, unknown>> }
  | { kind: 'invalid'; problem: string };

export function readDaemonJson(text: string | null, path = DAEMON_JSON_PATH): DaemonJsonRead {
  if (text === null || text.trim() === '') return { kind: 'absent' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      kind: 'invalid',
      problem:
        `${path} is not valid JSON (${(err as Error).message}); Docker would not start with it either. ` +
        'Fix it so its settings can be carried over, or set containerd.carryDockerSettings=false to migrate without them',
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', problem: `${path} must hold a JSON object; fix it, or set containerd.carryDockerSettings=false to migrate without it` };
  }
  return { kind: 'parsed', settings: value as Record<string, unknown> };
}

/** One daemon.json setting and what became of it: shown by `plan`. */
export interface CarriedItem {
  /** The daemon.json key, e.g. "registry-mirrors". */
  key: string;
  /** What it held, as written there. */
  value: string;
  /** Where it is carried to (file and field), or why nothing needs to be written. */
  to: string;
  /** cri-migrator's own setting (or the kubelet's) that won over daemon.json; then nothing was carried. */
  overriddenBy?: string;
}

export interface DaemonJsonWarning {
  key: string;
  message: string;
}

/** What cri-migrator's own config and the kubelet already say: they win over daemon.json. */
export interface CarryContext {
  registryMirrors: Readonly<Record<string, readonly string[]>>;
  insecureRegistries: readonly string[];
  plainHttpRegistries: readonly string[];
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
  systemdCgroup: boolean;
  /** The kubelet's own log rotation settings, where a flag or config.yaml sets them. */
  kubeletLog: { maxSize?: { value: string; source: string }; maxFiles?: { value: string; source: string } };
  /** Where the hosts.toml files go (registry config_path). */
  registryConfigDir: string;
  kubeletConfigPath: string;
}

export interface DockerCarryOver {
  /** Registry host -> mirror URLs to add (docker.io only: Docker's mirrors are Docker Hub's). */
  mirrors: Record<string, string[]>;
  /** Hosts Docker treated as insecure: HTTPS without verification, then plain HTTP. */
  httpsThenHttp: string[];
  /** Registries reached over HTTPS without verification: hosts of insecure mirrors. */
  skipVerifyHosts: string[];
  runtimes: RuntimeSpec[];
  defaultRuntime?: string;
  kubeletLog: { containerLogMaxSize?: string; containerLogMaxFiles?: number };
  enableSelinux?: boolean;
  maxConcurrentDownloads?: number;
  proxy: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  carried: CarriedItem[];
  warnings: DaemonJsonWarning[];
}

const KUBERNETES_MANAGED = 'pods get it from the kubelet and the CNI plugin under containerd as they did under Docker';

/** Keys that only concern Docker's own daemon, API or the containers Docker runs by itself: nothing to carry. */
const DOCKER_ONLY = new Set([
  'hosts', 'tls', 'tlsverify', 'tlscacert', 'tlscert', 'tlskey', 'group', 'pidfile', 'exec-root', 'debug', 'log-level',
  'log-format', 'experimental', 'metrics-addr', 'containerd', 'containerd-namespace', 'containerd-plugin-namespace',
  'cri-containerd', 'swarm-default-advertise-addr', 'swarm-raft-heartbeat-tick', 'swarm-raft-election-tick',
  'node-generic-resources', 'labels', 'builder', 'features', 'raw-logs', 'shutdown-timeout', 'default-stop-timeout',
  'oom-score-adjust', 'api-cors-header', 'min-api-version', 'max-concurrent-uploads', 'max-download-attempts',
  'cluster-store', 'cluster-store-opts', 'cluster-advertise', 'network-control-plane-mtu', 'network-diagnostic-port',
  'firewall-backend', 'bridge-accept-fwmark', 'allow-direct-routing', 'host-gateway-ip', 'host-gateway-ips',
  'default-network-opts', 'userland-proxy', 'userland-proxy-path', 'rootless', 'nri-opts', 'init', 'init-path',
  'default-init', 'cgroup-parent', 'default-ipc-mode', 'cpu-rt-period', 'cpu-rt-runtime', 'disable-legacy-registry',
  'allow-nondistributable-artifacts', 'authorization-plugins-timeout', 'dns', 'dns-opts', 'dns-search', 'resolv-conf',
]);

/** Docker's network settings: they shaped docker0 and Docker's own containers, not CNI pods. */
const NETWORK_KEYS = new Set([
  'bip', 'bip6', 'fixed-cidr', 'fixed-cidr-v6', 'default-address-pools', 'bridge', 'mtu', 'ip', 'ip-masq', 'iptables',
  'ip6tables', 'ip-forward', 'ip-forward-no-drop', 'icc', 'ipv6', 'default-gateway', 'default-gateway-v6',
]);

const WARN: Readonly<Record<string, (value: unknown) => string>> = {
  'data-root': (v) =>
    `Docker kept its images and containers under ${String(v)}; containerd keeps its own under its root (config.toml root, /var/lib/containerd by default) and pulls the images again. If ${String(v)} was a separate disk, give containerd's root that space before migrating`,
  graph: (v) => `Docker kept its data under ${String(v)} (the old name of data-root); containerd keeps its own under its root (/var/lib/containerd by default)`,
  'storage-driver': (v) =>
    `Docker stored layers with ${String(v)}; containerd's CRI uses its overlayfs snapshotter: set snapshotter in config.toml if the node relied on ${String(v)}`,
  'storage-opts': (v) =>
    `storage options ${JSON.stringify(v)} (size quotas, thin pools, ...) are not carried: containerd's overlayfs snapshotter has no equivalent; size limits come from the pods' ephemeral-storage limits`,
  'default-ulimits': (v) =>
    `Docker gave every container the ulimits ${JSON.stringify(v)}; under containerd pods inherit containerd's own limits (its unit's LimitNOFILE...). Set rlimits in a base_runtime_spec for the runc runtime if pods rely on them`,
  'userns-remap': (v) =>
    `Docker ran containers in the remapped user namespace ${String(v)}; containerd does not remap node-wide: pods need hostUsers: false (Kubernetes user namespaces) for that`,
  'default-shm-size': (v) => `Docker gave containers a /dev/shm of ${String(v)}; containerd gives pods 64 MiB: mount a memory emptyDir at /dev/shm where more is needed`,
  'seccomp-profile': (v) =>
    `Docker's default seccomp profile was ${String(v)}; under containerd pods with seccompProfile RuntimeDefault get containerd's built-in profile instead`,
  'no-new-privileges': () => 'Docker set no-new-privileges on every container; under containerd only pods with allowPrivilegeEscalation: false get it',
  'default-cgroupns-mode': (v) => `Docker's default cgroup namespace mode was ${String(v)}; containerd's CRI decides per pod (private on cgroup v2)`,
  'authorization-plugins': (v) => `Docker authorization plugins ${JSON.stringify(v)} no longer see what runs on this node`,
  'cdi-spec-dirs': (v) => `Docker read CDI specs from ${JSON.stringify(v)}; set enable_cdi and cdi_spec_dirs in the CRI runtime settings of config.toml if pods use CDI devices`,
};

/** Carry daemon.json over. Settings of cri-migrator's config (and the kubelet's own) win. */
export function carryDockerSettings(settings: Readonly<Record<string, unknown>>, ctx: CarryContext): DockerCarryOver {
  const out: DockerCarryOver = { mirrors: {}, httpsThenHttp: [], skipVerifyHosts: [], runtimes: [], kubeletLog: {}, proxy: {}, carried: [], warnings: [] };
  const warn = (key: string, message: string) => out.warnings.push({ key, message });
  const carry = (item: CarriedItem) => out.carried.push(item);
  const hostsToml = (host: string) => `${ctx.registryConfigDir.replace(/\/+$/, '')}/${host}/hosts.toml`;
  const network: string[] = [];

  // insecure-registries first: mirrors need to know which hosts are insecure.
  const insecureHosts = new Set<string>();
  const cidrs = new BlockList();
  cidrs.addSubnet('127.0.0.0', 8, 'ipv4');
  cidrs.addSubnet('::1', 128, 'ipv6');
  const insecure = stringList(settings['insecure-registries']);
  const cidrEntries: string[] = [];
  for (const entry of insecure) {
    const name = entry.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
    const cidr = /^(.+)\/(\d{1,3})$/.exec(name);
    if (cidr && isIP(cidr[1]!)) {
      cidrEntries.push(entry);
      cidrs.addSubnet(cidr[1]!, Number(cidr[2]), isIP(cidr[1]!) === 6 ? 'ipv6' : 'ipv4');
      continue;
    }
    const host = name === 'index.docker.io' ? 'docker.io' : name;
    if (host === 'docker.io') {
      carry({ key: 'insecure-registries', value: entry, to: 'nothing: Docker always verifies Docker Hub, so this entry had no effect' });
      continue;
    }
    insecureHosts.add(host);
    const own = ctx.insecureRegistries.includes(host)
      ? 'containerd.insecureRegistries'
      : ctx.plainHttpRegistries.includes(host)
        ? 'containerd.plainHttpRegistries'
        : ctx.registryMirrors[host]
          ? `containerd.registryMirrors[${JSON.stringify(host)}]`
          : undefined;
    if (own && own !== `containerd.registryMirrors[${JSON.stringify(host)}]`) {
      carry({ key: 'insecure-registries', value: entry, to: hostsToml(host), overriddenBy: own });
      continue;
    }
    out.httpsThenHttp.push(host);
    carry({ key: 'insecure-registries', value: entry, to: `${hostsToml(host)} (HTTPS without certificate verification, then plain HTTP, as Docker tried it)` });
  }
  if (cidrEntries.length > 0) {
    warn(
      'insecure-registries',
      `CIDR entries ${cidrEntries.join(', ')} cannot be carried: Docker matched them against each registry's resolved address, containerd configures registries by name. ` +
        'List each registry in that range in containerd.insecureRegistries (HTTPS without verification) or containerd.plainHttpRegistries',
    );
  }
  const isInsecure = (host: string) => {
    if (insecureHosts.has(host) || ctx.insecureRegistries.includes(host)) return true;
    const bare = host.replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
    const family = isIP(bare);
    return family !== 0 && cidrs.check(bare, family === 6 ? 'ipv6' : 'ipv4');
  };

  const mirrors = stringList(settings['registry-mirrors']);
  if (mirrors.length > 0) {
    const value = mirrors.join(', ');
    if (ctx.registryMirrors['docker.io']) {
      carry({ key: 'registry-mirrors', value, to: hostsToml('docker.io'), overriddenBy: 'containerd.registryMirrors["docker.io"]' });
    } else {
      out.mirrors['docker.io'] = mirrors.map((m) => m.replace(/\/+$/, ''));
      for (const m of mirrors) {
        const host = urlHost(m);
        if (host && isInsecure(host) && m.startsWith('https://')) out.skipVerifyHosts.push(host);
      }
      const skip = out.skipVerifyHosts.length > 0 ? ` (without verifying ${out.skipVerifyHosts.join(', ')}: insecure registries)` : '';
      carry({ key: 'registry-mirrors', value, to: `${hostsToml('docker.io')}, before Docker Hub${skip}` });
    }
  }

  carryLogOptions(settings, ctx, out);
  carryRuntimes(settings, ctx, out);

  for (const [key, value] of Object.entries(settings)) {
    if (['registry-mirrors', 'insecure-registries', 'log-driver', 'log-opts', 'runtimes', 'default-runtime', 'exec-opts'].includes(key)) continue;
    if (DOCKER_ONLY.has(key)) continue;
    if (NETWORK_KEYS.has(key)) {
      network.push(key);
      continue;
    }
    if (key === 'storage-driver' && (value === 'overlay2' || value === 'overlay')) {
      carry({ key, value: String(value), to: "nothing: containerd's default overlayfs snapshotter stores layers the same way" });
      continue;
    }
    if (key === 'live-restore') {
      carry({ key, value: String(value), to: "nothing: containerd's shims keep containers running while containerd restarts" });
      continue;
    }
    if (key === 'selinux-enabled') {
      if (typeof value === 'boolean') {
        out.enableSelinux = value;
        carry({ key, value: String(value), to: 'config.toml enable_selinux (CRI runtime settings)' });
      }
      continue;
    }
    if (key === 'max-concurrent-downloads') {
      if (typeof value === 'number' && Number.isInteger(value) && value > 0) {
        out.maxConcurrentDownloads = value;
        carry({ key, value: String(value), to: 'config.toml max_concurrent_downloads (CRI image settings)' });
      }
      continue;
    }
    if (key === 'proxies') {
      carryProxies(value, ctx, out);
      continue;
    }
    const message = WARN[key];
    if (message) warn(key, message(value));
    else warn(key, `${key} is not known to cri-migrator and is not carried: check whether pods on this node relied on it`);
  }
  if (network.length > 0) {
    warn(
      'network',
      `Docker network settings (${network.join(', ')}) are not carried: they shaped docker0 and the containers Docker ran by itself; ${KUBERNETES_MANAGED}`,
    );
  }
  return out;
}

function carryLogOptions(settings: Readonly<Record<string, unknown>>, ctx: CarryContext, out: DockerCarryOver): void {
  const driver = typeof settings['log-driver'] === 'string' ? (settings['log-driver'] as string) : 'json-file';
  const opts = isObject(settings['log-opts']) ? (settings['log-opts'] as Record<string, unknown>) : {};
  if (driver !== 'json-file' && driver !== 'local') {
    out.warnings.push({
      key: 'log-driver',
      message: `Docker sent container logs to ${driver}; under containerd they are files under /var/log/pods, rotated by the kubelet: point log collectors there`,
    });
    return;
  }
  const target = `${ctx.kubeletConfigPath}`;
  const size = opts['max-size'];
  if (typeof size === 'string' && size !== '' && size !== '-1') {
    const bytes = dockerSizeBytes(size);
    if (bytes === null || bytes <= 0) {
      out.warnings.push({ key: 'log-opts', message: `max-size ${JSON.stringify(size)} is not a size Docker accepts; not carried` });
    } else if (ctx.kubeletLog.maxSize) {
      out.carried.push({ key: 'log-opts', value: `max-size=${size}`, to: `${target} containerLogMaxSize`, overriddenBy: ctx.kubeletLog.maxSize.source });
    } else {
      const quantity = kubeletQuantity(bytes);
      out.kubeletLog.containerLogMaxSize = quantity;
      out.carried.push({ key: 'log-opts', value: `max-size=${size}`, to: `${target} containerLogMaxSize: ${quantity} (${bytes} bytes, Docker's sizes are decimal)` });
    }
  }
  const files = opts['max-file'];
  if (typeof files === 'string' && files !== '' && typeof size === 'string' && size !== '' && size !== '-1') {
    const n = Number(files);
    if (!Number.isInteger(n) || n < 1) {
      out.warnings.push({ key: 'log-opts', message: `max-file ${JSON.stringify(files)} is not a count Docker accepts; not carried` });
    } else if (ctx.kubeletLog.maxFiles) {
      out.carried.push({ key: 'log-opts', value: `max-file=${files}`, to: `${target} containerLogMaxFiles`, overriddenBy: ctx.kubeletLog.maxFiles.source });
    } else {
      // The kubelet refuses fewer than 2 files (the current one and one rotated).
      const count = Math.max(n, 2);
      out.kubeletLog.containerLogMaxFiles = count;
      out.carried.push({
        key: 'log-opts',
        value: `max-file=${files}`,
        to: `${target} containerLogMaxFiles: ${count}${count !== n ? ' (the kubelet keeps at least 2 files)' : ''}`,
      });
    }
  }
  const rest = Object.keys(opts).filter((k) => k !== 'max-size' && k !== 'max-file' && k !== 'compress' && k !== 'mode' && k !== 'max-buffer-size');
  if (rest.length > 0) {
    out.warnings.push({
      key: 'log-opts',
      message: `log options ${rest.join(', ')} are not carried: the kubelet writes CRI log files without Docker's labels, env or tag metadata`,
    });
  }
}

function carryRuntimes(settings: Readonly<Record<string, unknown>>, ctx: CarryContext, out: DockerCarryOver): void {
  const runtimes = isObject(settings['runtimes']) ? (settings['runtimes'] as Record<string, unknown>) : {};
  for (const [name, raw] of Object.entries(runtimes)) {
    if (!isObject(raw)) continue;
    const def = raw as Record<string, unknown>;
    if (typeof def['runtimeType'] === 'string' && def['runtimeType'] !== '') {
      // A shim v2 runtime (Docker 23+): the same runtime_type and options containerd takes.
      const runtimeType = def['runtimeType'] as string;
      const options = isObject(def['options']) ? (structuredClone(def['options']) as RuntimeSpec['options']) : {};
      if (runtimeType === 'io.containerd.runc.v2') options['SystemdCgroup'] = ctx.systemdCgroup;
      out.runtimes.push({ name, runtimeType, options });
      out.carried.push({ key: 'runtimes', value: `${name}: ${runtimeType}`, to: `config.toml runtimes.${name} (runtime_type ${runtimeType})` });
      continue;
    }
    if (typeof def['path'] !== 'string' || def['path'] === '') continue;
    const path = def['path'] as string;
    out.runtimes.push({ name, runtimeType: 'io.containerd.runc.v2', options: { BinaryName: path, SystemdCgroup: ctx.systemdCgroup } });
    out.carried.push({
      key: 'runtimes',
      value: `${name}: ${path}`,
      to: `config.toml runtimes.${name} (io.containerd.runc.v2, BinaryName ${path}, SystemdCgroup ${ctx.systemdCgroup}); RuntimeClass handler "${name}"`,
    });
    const args = stringList(def['runtimeArgs']);
    if (args.length > 0) {
      out.warnings.push({
        key: 'runtimes',
        message: `runtimeArgs of ${name} (${args.join(' ')}) cannot be carried: containerd's runc shim passes no extra arguments; point BinaryName at a wrapper script that adds them`,
      });
    }
  }
  const def = settings['default-runtime'];
  if (typeof def === 'string' && def !== '') {
    const known = def === 'runc' || def === 'io.containerd.runc.v2' || out.runtimes.some((r) => r.name === def);
    if (!known) {
      out.warnings.push({ key: 'default-runtime', message: `default-runtime ${def} is not among the runtimes in daemon.json; containerd keeps runc as its default` });
    } else {
      out.defaultRuntime = def === 'io.containerd.runc.v2' ? 'runc' : def;
      out.carried.push({ key: 'default-runtime', value: def, to: `config.toml default_runtime_name = "${out.defaultRuntime}"` });
    }
  }
  for (const opt of stringList(settings['exec-opts'])) {
    const driver = /^native\.cgroupdriver=(.+)$/.exec(opt)?.[1];
    const kubelet = ctx.systemdCgroup ? 'systemd' : 'cgroupfs';
    if (driver === undefined) {
      out.warnings.push({ key: 'exec-opts', message: `exec-opt ${opt} is not carried` });
    } else if (driver === kubelet) {
      out.carried.push({ key: 'exec-opts', value: opt, to: `SystemdCgroup = ${ctx.systemdCgroup} on every runc runtime (it follows the kubelet's cgroupDriver ${kubelet}, which matches)` });
    } else {
      out.carried.push({ key: 'exec-opts', value: opt, to: `SystemdCgroup = ${ctx.systemdCgroup} on every runc runtime`, overriddenBy: `the kubelet's cgroupDriver ${kubelet}` });
    }
  }
}

function carryProxies(value: unknown, ctx: CarryContext, out: DockerCarryOver): void {
  if (!isObject(value)) return;
  const proxies = value as Record<string, unknown>;
  const fields = [
    ['http-proxy', 'httpProxy', 'HTTP_PROXY'],
    ['https-proxy', 'httpsProxy', 'HTTPS_PROXY'],
    ['no-proxy', 'noProxy', 'NO_PROXY'],
  ] as const;
  for (const [key, field, variable] of fields) {
    const v = proxies[key];
    if (typeof v !== 'string' || v === '') continue;
    const item = { key: `proxies.${key}`, value: v, to: `containerd's ${variable} (systemd drop-in)` };
    if (ctx[field] !== '') out.carried.push({ ...item, overriddenBy: `containerd.${field}` });
    else {
      out.proxy[field] = v;
      out.carried.push(item);
    }
  }
}

/** Bytes of a Docker size ("10m", "1.5g", "100k", "10MiB"): decimal, as go-units FromHumanSize reads it. */
export function dockerSizeBytes(size: string): number | null {
  const match = /^(\d+(?:\.\d+)?) ?([kmgtp])?(i?b)?$/i.exec(size.trim());
  if (!match) {
    const bytesOnly = /^(\d+(?:\.\d+)?) ?b$/i.exec(size.trim());
    return bytesOnly ? Math.trunc(Number(bytesOnly[1])) : null;
  }
  const unit = match[2]?.toLowerCase();
  if (match[3] && !unit && match[3].toLowerCase() !== 'b') return null;
  const power = unit ? 'kmgtp'.indexOf(unit) + 1 : 0;
  return Math.trunc(Number(match[1]) * 1000 ** power);
}

/** A byte count as a Kubernetes quantity the kubelet reads exactly: "10M", "500k", "1G", or plain bytes. */
export function kubeletQuantity(bytes: number): string {
  for (const [suffix, factor] of [
    ['P', 1e15],
    ['T', 1e12],
    ['G', 1e9],
    ['M', 1e6],
    ['k', 1e3],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}

function urlHost(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim()) : [];
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
