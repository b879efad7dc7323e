// Generates /etc/containerd/config.toml in the config version the installed containerd reads, and
// the registry hosts.toml files, with a TOML library rather than string templates.
//
// Config versions (containerd's RELEASES.md, "Daemon configuration", and version.ConfigVersion):
// 1 (no `version` key) from containerd 1.0, 2 from 1.3, 3 from 2.0, 4 from 2.3. A containerd reads
// every version up to its own and migrates older ones in memory at each start, with the warning
// "Configuration migrated from version N"; a newer version than its own is refused.
//
// An existing config of any version is merged into, never replaced: local settings (root, state,
// debug, metrics, grpc, runtimes and their options, registry config_path, imports, ...) survive. When
// the version changes, its tables are moved to the target version's names the way containerd's own
// migration does (cmd/containerd/server/config: v1Migrate, serviceMigrate; the ConfigMigration of
// the CRI, shim manager, cgroups and restart plugins), then only what the CRI needs is set.
import { parse, stringify, type TomlPrimitive, type TomlTable } from 'smol-toml';
import { atLeast, formatVersion, type MinorVersion } from '../domain/version.js';

export const CRI_PLUGIN = 'io.containerd.grpc.v1.cri';
/** containerd 2.x (config version 3+): runtimes, cni, SystemdCgroup. */
export const CRI_RUNTIME_PLUGIN = 'io.containerd.cri.v1.runtime';
/** containerd 2.x (config version 3+): pinned_images.sandbox, registry, snapshotter. */
export const CRI_IMAGES_PLUGIN = 'io.containerd.cri.v1.images';
export const DEFAULT_REGISTRY_CONFIG_DIR = '/etc/containerd/certs.d';
export const CONTAINERD_CONFIG_PATH = '/etc/containerd/config.toml';

export type ConfigVersion = 2 | 3 | 4;
/** What an existing file declares; 1 is a file without `version` (Docker's containerd.io package ships one). */
export type ExistingConfigVersion = 1 | 2 | 3 | 4;
export type ConfigVersionSetting = 'auto' | ConfigVersion;

/** The highest config version a containerd release reads. */
export function newestConfigVersion(containerd: MinorVersion): ConfigVersion {
  if (containerd.major < 2) return 2;
  if (containerd.major === 2 && containerd.minor < 3) return 3;
  return 4;
}

export type TargetVersion = { ok: true; version: ConfigVersion; reason: string } | { ok: false; problem: string };

/** Which config version to write for the installed containerd, and why (shown by `plan`). */
export function targetConfigVersion(containerd: MinorVersion | null, setting: ConfigVersionSetting): TargetVersion {
  if (containerd === null) {
    const version = setting === 'auto' ? 2 : setting;
    return { ok: true, version, reason: `containerd's version is unknown: writing version ${version}${setting === 'auto' ? ', which every containerd from 1.3 reads' : ' (containerd.configVersion)'}` };
  }
  const newest = newestConfigVersion(containerd);
  const release = `containerd ${formatVersion(containerd)}`;
  if (setting === 'auto') {
    const beyond = containerd.major > 2 ? ' (the newest version cri-migrator knows)' : '';
    return { ok: true, version: newest, reason: `${release} reads config version ${newest}${beyond}` };
  }
  if (setting > newest) {
    return {
      ok: false,
      problem: `containerd.configVersion is ${setting}, but ${release} reads at most config version ${newest}: set containerd.configVersion to auto or ${newest}`,
    };
  }
  const note = setting < newest ? `; ${release} reads up to ${newest} and migrates version ${setting} in memory at every start` : '';
  return { ok: true, version: setting, reason: `containerd.configVersion is ${setting}${note}` };
}

export type ExistingConfig =
  | { kind: 'absent' }
  | { kind: 'parsed'; version: ExistingConfigVersion; table: TomlTable }
  | { kind: 'invalid'; problem: string };

/** Parse an existing config.toml and its version. Never throws: a bad file is a problem to report. */
export function readExistingConfig(text: string | null, path = CONTAINERD_CONFIG_PATH): ExistingConfig {
  if (text === null || text.trim() === '') return { kind: 'absent' };
  let table: TomlTable;
  try {
    table = parse(text);
  } catch (err) {
    const first = ((err as Error).message.split('\n')[0] ?? '').trim();
    return {
      kind: 'invalid',
      problem: `${path} is not valid TOML (${first}); containerd cannot read it either: fix the syntax or move the file away, then run plan again`,
    };
  }
  const version = table['version'];
  if (version === undefined) return { kind: 'parsed', version: 1, table };
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0 || version > 4) {
    return {
      kind: 'invalid',
      problem:
        `${path} declares version = ${JSON.stringify(version)}, not a containerd config version cri-migrator knows (1 to 4): ` +
        'correct the version line (containerd config migrate prints the file in the version the installed containerd reads), then run plan again',
    };
  }
  // containerd reads version 0 as 1.
  return { kind: 'parsed', version: Math.max(version, 1) as ExistingConfigVersion, table };
}

export interface RegistrySettings {
  /** docker.io, registry.local:5000 */
  host: string;
  mirrors: readonly MirrorSettings[];
  /** HTTPS without verifying the certificate (skip_verify). */
  insecure: boolean;
  /** Plain HTTP only. */
  plainHttp: boolean;
  /** Docker's insecure-registries: HTTPS without verification first, then plain HTTP (Docker's endpoint order). */
  httpsThenHttp?: boolean;
  /** TLS settings of the registry itself, carried from the old config's registry.configs.<host>.tls. */
  tls?: RegistryTls;
}

export interface RegistryTls {
  skipVerify?: boolean;
  ca?: string;
  client?: [string, string];
}

export interface MirrorSettings {
  url: string;
  /** The mirror's own host is insecure: do not verify its certificate. */
  skipVerify?: boolean;
}

export interface RuntimeSpec {
  /** The RuntimeClass handler name. */
  name: string;
  runtimeType: string;
  options: TomlTable;
}

export interface ContainerdConfigOptions {
  /** The config version to write (targetConfigVersion). */
  version: ConfigVersion;
  /** The installed containerd, for keys that changed within a config version (cni bin_dir / bin_dirs). */
  containerdVersion: MinorVersion | null;
  /** kubelet's cgroupDriver is systemd: every runc-type runtime must use the systemd cgroup driver as well. */
  systemdCgroup: boolean;
  sandboxImage: string;
  /** From the old kubelet --cni-bin-dir/--cni-conf-dir, when they were not the defaults. */
  cniBinDir?: string;
  cniConfDir?: string;
  /** Registries to configure through hosts.toml (see renderRegistryHosts); empty leaves registry settings alone. */
  registries: readonly RegistrySettings[];
  /** Extra runtimes (e.g. from /etc/docker/daemon.json); they replace existing entries of the same name. */
  runtimes?: readonly RuntimeSpec[];
  /** default_runtime_name; unset keeps the file's own default when it names a runtime, else runc. */
  defaultRuntime?: string;
  enableSelinux?: boolean;
  maxConcurrentDownloads?: number;
}

export type ContainerdConfigPlan =
  | {
      ok: true;
      content: string;
      version: ConfigVersion;
      /** Version of the file that was there; null: none. */
      from: ExistingConfigVersion | null;
      /** What moved to the target version's names (empty when the version did not change). */
      migrated: string[];
      /** Settings the file keeps but the target containerd ignores. */
      warnings: string[];
      defaultRuntime: string;
    }
  | { ok: false; problem: string };

export interface GeneratedFile {
  path: string;
  content: string;
  mode: number;
}

/** Merge the CRI settings into the existing config, in the target version. Pure; never throws. */
export function planContainerdConfig(existingText: string | null, options: ContainerdConfigOptions): ContainerdConfigPlan {
  const existing = readExistingConfig(existingText);
  if (existing.kind === 'invalid') return { ok: false, problem: existing.problem };
  const from = existing.kind === 'parsed' ? existing.version : null;
  if (from !== null && from > options.version) {
    const installed = options.containerdVersion ? `containerd ${formatVersion(options.containerdVersion)}` : 'the installed containerd';
    return {
      ok: false,
      problem:
        `${CONTAINERD_CONFIG_PATH} is config version ${from}, newer than version ${options.version} that ${installed} is given; ` +
        (options.containerdVersion && newestConfigVersion(options.containerdVersion) < from
          ? `${installed} refuses it too: install a containerd that reads version ${from}, or rewrite the file as version ${options.version}`
          : `cri-migrator does not downgrade configs: set containerd.configVersion to auto or ${from}`),
    };
  }
  const config: TomlTable = existing.kind === 'parsed' ? structuredClone(existing.table) : {};
  const migrated = migrateConfig(config, from ?? options.version, options.version, options.containerdVersion);
  migrated.push(...dropRemovedSettings(config, options.version, options.containerdVersion));
  const defaultRuntime = applyCriSettings(config, options);
  const warnings = ignoredSettings(config, options.version, options.containerdVersion);
  const { version: _old, ...rest } = config;
  const content = `# Generated by cri-migrator. The original is kept in the backup directory on this node.\n${stringify({ version: options.version, ...rest }).trimEnd()}\n`;
  return { ok: true, content, version: options.version, from, migrated, warnings, defaultRuntime };
}

/** planContainerdConfig's text, throwing its problem: for callers that have checked already. */
export function renderContainerdConfig(existingText: string | null, options: ContainerdConfigOptions): string {
  const plan = planContainerdConfig(existingText, options);
  if (!plan.ok) throw new Error(plan.problem);
  return plan.content;
}

// ---- migration between config versions -------------------------------------------------------

/** containerd's names of the plugins a version 1 config may name by their short id (v1MigratePluginName). */
const V1_CORE_PLUGINS: Readonly<Record<string, string>> = {
  cri: 'io.containerd.grpc.v1.cri',
  cgroups: 'io.containerd.monitor.v1.cgroups',
  linux: 'io.containerd.runtime.v1.linux',
  scheduler: 'io.containerd.gc.v1.scheduler',
  bolt: 'io.containerd.metadata.v1.bolt',
  task: 'io.containerd.runtime.v2.task',
  opt: 'io.containerd.internal.v1.opt',
  restart: 'io.containerd.internal.v1.restart',
  tracing: 'io.containerd.internal.v1.tracing',
  otlp: 'io.containerd.tracing.processor.v1.otlp',
  aufs: 'io.containerd.snapshotter.v1.aufs',
  btrfs: 'io.containerd.snapshotter.v1.btrfs',
  devmapper: 'io.containerd.snapshotter.v1.devmapper',
  native: 'io.containerd.snapshotter.v1.native',
  overlayfs: 'io.containerd.snapshotter.v1.overlayfs',
  zfs: 'io.containerd.snapshotter.v1.zfs',
};

export function v1PluginName(name: string): string {
  if (name.includes('.')) return name;
  if (V1_CORE_PLUGINS[name]) return V1_CORE_PLUGINS[name];
  if (name.endsWith('-service')) return `io.containerd.service.v1.${name}`;
  if (name === 'windows' || name === 'windows-lcow') return `io.containerd.snapshotter.v1.${name}`;
  return `io.containerd.grpc.v1.${name}`;
}

/** Keys of the v2 CRI table that containerd 2.x moved to io.containerd.cri.v1.images. */
const IMAGE_KEYS = ['registry', 'image_decryption', 'max_concurrent_downloads', 'image_pull_progress_timeout', 'image_pull_with_sync_fs', 'stats_collect_period'];
const IMAGE_CONTAINERD_KEYS = ['snapshotter', 'disable_snapshot_annotations', 'discard_unpacked_layers'];
/** Keys that stay in io.containerd.grpc.v1.cri (the CRI server's streaming settings). */
const STREAM_KEYS = ['disable_tcp_service', 'stream_server_address', 'stream_server_port', 'stream_idle_timeout', 'enable_tls_streaming', 'x509_key_pair_streaming'];

function migrateConfig(config: TomlTable, from: number, to: ConfigVersion, containerd: MinorVersion | null): string[] {
  const notes: string[] = [];
  if (from < 2 && to >= 2) migrate1to2(config, notes);
  if (from < 3 && to >= 3) migrate2to3(config, notes, containerd === null || atLeast(containerd, 2, 1));
  if (from < 4 && to >= 4) migrate3to4(config, notes);
  return notes;
}

function migrate1to2(config: TomlTable, notes: string[]): void {
  const plugins = config['plugins'];
  if (isTable(plugins)) {
    const renamed: TomlTable = {};
    for (const [name, value] of Object.entries(plugins)) {
      const full = v1PluginName(name);
      if (full !== name) notes.push(`plugins.${name} -> plugins."${full}"`);
      renamed[full] = value;
    }
    config['plugins'] = renamed;
  }
  for (const list of ['disabled_plugins', 'required_plugins']) {
    const names = config[list];
    if (Array.isArray(names)) config[list] = names.map((n) => (typeof n === 'string' ? v1PluginName(n) : n));
  }
}

function migrate2to3(config: TomlTable, notes: string[], cniBinDirs: boolean): void {
  const plugins = config['plugins'];
  if (!isTable(plugins)) return;
  const src = plugins[CRI_PLUGIN];
  if (isTable(src)) {
    const images = ensureTable(plugins, CRI_IMAGES_PLUGIN);
    const runtime = ensureTable(plugins, CRI_RUNTIME_PLUGIN);
    const moved = (key: string, to: string) => notes.push(`plugins."${CRI_PLUGIN}".${key} -> plugins."${to}"`);
    if ('sandbox_image' in src) {
      ensureTable(images, 'pinned_images')['sandbox'] = src['sandbox_image']!;
      notes.push(`plugins."${CRI_PLUGIN}".sandbox_image -> plugins."${CRI_IMAGES_PLUGIN}".pinned_images.sandbox`);
    }
    for (const key of IMAGE_KEYS) {
      if (key in src) {
        images[key] = src[key]!;
        moved(key, CRI_IMAGES_PLUGIN);
      }
    }
    const containerd = src['containerd'];
    if (isTable(containerd)) {
      for (const key of IMAGE_CONTAINERD_KEYS) {
        if (key in containerd) {
          images[key] = containerd[key]!;
          moved(`containerd.${key}`, CRI_IMAGES_PLUGIN);
        }
      }
    }
    for (const [key, value] of Object.entries(src)) {
      if (key === 'cni' || key === 'containerd' || key === 'sandbox_image' || IMAGE_KEYS.includes(key) || STREAM_KEYS.includes(key)) continue;
      if (!(key in runtime)) runtime[key] = value;
      moved(key, CRI_RUNTIME_PLUGIN);
    }
    const cni = src['cni'];
    if (isTable(cni)) {
      const target = ensureTable(runtime, 'cni');
      for (const [key, value] of Object.entries(cni)) {
        // containerd 2.1 added bin_dirs and migrates bin_dir into it; 2.0 only knows bin_dir.
        if (key === 'bin_dir' && cniBinDirs) {
          const dirs = target['bin_dirs'];
          if (!Array.isArray(dirs) || dirs.length === 0) target['bin_dirs'] = [value];
        } else if (!(key in target)) {
          target[key] = value;
        }
      }
      moved('cni', CRI_RUNTIME_PLUGIN);
    }
    if (isTable(containerd)) {
      const target = ensureTable(runtime, 'containerd');
      for (const [key, value] of Object.entries(containerd)) {
        if (IMAGE_CONTAINERD_KEYS.includes(key) || key in target) continue;
        target[key] = value;
      }
      const runtimes = target['runtimes'];
      if (isTable(runtimes)) {
        for (const entry of Object.values(runtimes)) {
          if (isTable(entry) && 'sandbox_mode' in entry && !('sandboxer' in entry)) {
            entry['sandboxer'] = entry['sandbox_mode']!;
            delete entry['sandbox_mode'];
          }
        }
      }
      moved('containerd', CRI_RUNTIME_PLUGIN);
    }
    const stream: TomlTable = {};
    for (const key of STREAM_KEYS) if (key in src) stream[key] = src[key]!;
    if (Object.keys(stream).length > 0) plugins[CRI_PLUGIN] = stream;
    else delete plugins[CRI_PLUGIN];
    dropEmpty(plugins, CRI_IMAGES_PLUGIN);
    dropEmpty(plugins, CRI_RUNTIME_PLUGIN);
  }
  // The shim manager took over io.containerd.runtime.v2.task's sched_core as an environment variable.
  const task = plugins['io.containerd.runtime.v2.task'];
  if (isTable(task) && 'sched_core' in task) {
    const manager = ensureTable(plugins, 'io.containerd.shim.v1.manager');
    if (task['sched_core'] === true && !('env' in manager)) manager['env'] = ['SCHED_CORE=1'];
    delete task['sched_core'];
    notes.push('plugins."io.containerd.runtime.v2.task".sched_core -> plugins."io.containerd.shim.v1.manager".env');
  }
  for (const [old, renamed] of [
    ['io.containerd.monitor.v1.cgroups', 'io.containerd.monitor.task.v1.cgroups'],
    ['io.containerd.internal.v1.restart', 'io.containerd.monitor.container.v1.restart'],
  ] as const) {
    if (old in plugins) {
      plugins[renamed] = plugins[old]!;
      delete plugins[old];
      notes.push(`plugins."${old}" -> plugins."${renamed}"`);
    }
  }
}

/** Version 4 (containerd 2.3) moved the listeners out of the top level into server plugins. */
function migrate3to4(config: TomlTable, notes: string[]): void {
  const plugins = ensureTable(config, 'plugins');
  const server = (name: string, value: TomlTable, what: string) => {
    plugins[name] = value;
    notes.push(`${what} -> plugins."${name}"`);
  };
  const str = (t: TomlTable, k: string) => (typeof t[k] === 'string' ? (t[k] as string) : '');
  const num = (t: TomlTable, k: string) => (typeof t[k] === 'number' ? (t[k] as number) : 0);

  const debug = table(config, 'debug');
  if (str(debug, 'address') !== '' && !('io.containerd.server.v1.debug' in plugins)) {
    server('io.containerd.server.v1.debug', { address: str(debug, 'address'), uid: num(debug, 'uid'), gid: num(debug, 'gid') }, 'debug.address');
  }
  if ('address' in debug && (str(debug, 'address') === '' || 'io.containerd.server.v1.debug' in plugins)) {
    for (const key of ['address', 'uid', 'gid']) delete debug[key];
  }

  const grpc = table(config, 'grpc');
  const grpcAddress = str(grpc, 'address');
  const [uid, gid, maxRecv, maxSend] = [num(grpc, 'uid'), num(grpc, 'gid'), num(grpc, 'max_recv_message_size'), num(grpc, 'max_send_message_size')];
  const legacy = grpcAddress !== '' || uid !== 0 || gid !== 0 || maxRecv !== 0 || maxSend !== 0;
  if (legacy && !('io.containerd.server.v1.grpc' in plugins)) {
    const value: TomlTable = grpcAddress !== '' ? { address: grpcAddress, uid, gid } : { ...(uid ? { uid } : {}), ...(gid ? { gid } : {}) };
    if (maxRecv) value['max_recv_message_size'] = maxRecv;
    if (maxSend) value['max_send_message_size'] = maxSend;
    server('io.containerd.server.v1.grpc', value, 'grpc');
  }
  const tcpAddress = str(grpc, 'tcp_address');
  if (tcpAddress !== '' && !('io.containerd.server.v1.grpc-tcp' in plugins)) {
    const value: TomlTable = { address: tcpAddress };
    for (const [from, to] of [
      ['tcp_tls_ca', 'tls_ca'],
      ['tcp_tls_cert', 'tls_cert'],
      ['tcp_tls_key', 'tls_key'],
      ['tcp_tls_common_name', 'tls_common_name'],
    ] as const) {
      if (str(grpc, from) !== '') value[to] = str(grpc, from);
    }
    if (maxRecv) value['max_recv_message_size'] = maxRecv;
    if (maxSend) value['max_send_message_size'] = maxSend;
    server('io.containerd.server.v1.grpc-tcp', value, 'grpc.tcp_address');
  }
  if (legacy || tcpAddress !== '' || isEmptyOfValues(grpc)) delete config['grpc'];

  const ttrpc = table(config, 'ttrpc');
  if (!('io.containerd.server.v1.ttrpc' in plugins)) {
    let [address, tuid, tgid] = [str(ttrpc, 'address'), num(ttrpc, 'uid'), num(ttrpc, 'gid')];
    if (address === '' && grpcAddress !== '') {
      address = `${grpcAddress}.ttrpc`;
      tuid ||= uid;
      tgid ||= gid;
    }
    if (address !== '' || tuid !== 0 || tgid !== 0) server('io.containerd.server.v1.ttrpc', { address, uid: tuid, gid: tgid }, 'ttrpc');
  }
  if ('ttrpc' in config && ('io.containerd.server.v1.ttrpc' in plugins || isEmptyOfValues(ttrpc))) delete config['ttrpc'];

  const metrics = table(config, 'metrics');
  if (metrics['grpc_histogram'] === true && !('io.containerd.metrics.v1.grpc-prometheus' in plugins)) {
    server('io.containerd.metrics.v1.grpc-prometheus', { grpc_histogram: true }, 'metrics.grpc_histogram');
  }
  if ('grpc_histogram' in metrics) delete metrics['grpc_histogram'];
  if (str(metrics, 'address') !== '' && !('io.containerd.server.v1.metrics' in plugins)) {
    server('io.containerd.server.v1.metrics', { address: str(metrics, 'address') }, 'metrics.address');
  }
  if ('address' in metrics) delete metrics['address'];
  for (const key of ['debug', 'metrics']) if (key in config && Object.keys(table(config, key)).length === 0) delete config[key];
}

/**
 * Settings containerd 2.x removed (RELEASES.md, "Deprecated config properties"): it ignores them
 * with an "Ignoring unknown key" warning at every start. Dropped, and named in the notes.
 */
function dropRemovedSettings(config: TomlTable, version: ConfigVersion, containerd: MinorVersion | null): string[] {
  if (version < 3) return [];
  const notes: string[] = [];
  const drop = (parent: TomlTable, key: string, where: string, why: string) => {
    if (key in parent) {
      delete parent[key];
      notes.push(`dropped ${where}${key} (${why})`);
    }
  };
  const removed20 = 'removed in containerd 2.0, which ignores it';
  const runtime = table(table(config, 'plugins'), CRI_RUNTIME_PLUGIN);
  const at = `plugins."${CRI_RUNTIME_PLUGIN}".`;
  drop(runtime, 'systemd_cgroup', at, `${removed20}; SystemdCgroup in the runc options is set instead`);
  drop(runtime, 'disable_cgroup', at, removed20);
  const containerdTable = table(runtime, 'containerd');
  for (const key of ['default_runtime', 'untrusted_workload_runtime', 'no_pivot']) drop(containerdTable, key, `${at}containerd.`, removed20);
  for (const [name, entry] of Object.entries(table(containerdTable, 'runtimes'))) {
    if (!isTable(entry)) continue;
    for (const key of ['runtime_engine', 'runtime_root']) drop(entry, key, `${at}containerd.runtimes.${name}.`, removed20);
    drop(table(entry, 'options'), 'CriuPath', `${at}containerd.runtimes.${name}.options.`, `${removed20}; put criu on containerd's PATH`);
  }
  if (containerd === null || atLeast(containerd, 2, 1)) {
    drop(config, 'plugin_dir', '', 'Go plugin libraries were removed in containerd 2.1');
    // bin_dir is deprecated from 2.1 and removed in 2.3; bin_dirs holds the same directory.
    const cni = table(runtime, 'cni');
    if (cni['bin_dir'] === '') {
      // An empty bin_dir (what `containerd config default` of 2.1/2.2 prints) says nothing; 2.4 no longer knows the key.
      if (containerd === null || atLeast(containerd, 2, 4)) delete cni['bin_dir'];
    } else if (typeof cni['bin_dir'] === 'string') {
      const dirs = cni['bin_dirs'];
      if (!Array.isArray(dirs) || dirs.length === 0) cni['bin_dirs'] = [cni['bin_dir']];
      delete cni['bin_dir'];
      notes.push(`${at}cni.bin_dir -> bin_dirs`);
    }
  }
  if (containerd === null || atLeast(containerd, 2, 4)) {
    const removed24 = 'removed in containerd 2.4, which ignores it';
    const tracing = table(table(config, 'plugins'), 'io.containerd.internal.v1.tracing');
    for (const key of ['service_name', 'sampling_ratio']) {
      drop(tracing, key, 'plugins."io.containerd.internal.v1.tracing".', `${removed24}: use the OTEL_* environment variables`);
    }
    drop(runtime, 'enable_cdi', at, `${removed24}: CDI is always enabled`);
    drop(runtime, 'enable_experimental_restore_via_create', at, removed24);
    const registry = table(table(table(config, 'plugins'), CRI_IMAGES_PLUGIN), 'registry');
    for (const key of ['auths', 'configs', 'headers']) {
      const value = registry[key];
      if (isTable(value) && Object.keys(value).length === 0) delete registry[key];
    }
  }
  return notes;
}

/** What the target containerd will ignore although the file sets it: the plan shows it as a warning. */
function ignoredSettings(config: TomlTable, version: ConfigVersion, containerd: MinorVersion | null): string[] {
  if (version < 3) return [];
  const ignored = containerd === null || atLeast(containerd, 2, 4);
  const registry = table(table(table(config, 'plugins'), CRI_IMAGES_PLUGIN), 'registry');
  const out: string[] = [];
  for (const key of ['auths', 'configs']) {
    const value = registry[key];
    if (isTable(value) && Object.keys(value).length > 0) {
      out.push(
        `registry.${key} (${Object.keys(value).join(', ')}) is kept in config.toml but ` +
          (ignored ? 'containerd 2.4 no longer reads it' : 'containerd 2.x deprecates it (removed in 2.4) and pulls without its transfer service while it is set') +
          ': put registry credentials in imagePullSecrets or a kubelet credential provider',
      );
    }
  }
  return out;
}

// ---- the CRI settings, per version -----------------------------------------------------------

interface CriTables {
  images: TomlTable;
  runtime: TomlTable;
}

function criTables(config: TomlTable, version: ConfigVersion): CriTables {
  const plugins = ensureTable(config, 'plugins');
  if (version === 2) {
    const cri = ensureTable(plugins, CRI_PLUGIN);
    return { images: cri, runtime: cri };
  }
  return { images: ensureTable(plugins, CRI_IMAGES_PLUGIN), runtime: ensureTable(plugins, CRI_RUNTIME_PLUGIN) };
}

/** Plugin ids whose absence turns the CRI off, in any config version. */
const CRI_PLUGIN_IDS = ['cri', CRI_PLUGIN, CRI_RUNTIME_PLUGIN, CRI_IMAGES_PLUGIN];

function applyCriSettings(config: TomlTable, options: ContainerdConfigOptions): string {
  const disabled = Array.isArray(config['disabled_plugins']) ? config['disabled_plugins'] : [];
  config['disabled_plugins'] = disabled.filter((name) => typeof name !== 'string' || !CRI_PLUGIN_IDS.includes(name));

  const { images, runtime } = criTables(config, options.version);
  if (options.version === 2) images['sandbox_image'] = options.sandboxImage;
  else ensureTable(images, 'pinned_images')['sandbox'] = options.sandboxImage;
  if (options.maxConcurrentDownloads !== undefined) images['max_concurrent_downloads'] = options.maxConcurrentDownloads;
  if (options.enableSelinux !== undefined) runtime['enable_selinux'] = options.enableSelinux;

  const containerd = ensureTable(runtime, 'containerd');
  const runtimes = ensureTable(containerd, 'runtimes');
  const runc = ensureTable(runtimes, 'runc');
  runc['runtime_type'] = 'io.containerd.runc.v2';
  for (const spec of options.runtimes ?? []) {
    runtimes[spec.name] = { runtime_type: spec.runtimeType, ...(Object.keys(spec.options).length > 0 ? { options: structuredClone(spec.options) } : {}) };
  }
  // SystemdCgroup must follow kubelet's cgroup driver on every runc-type runtime, not only runc.
  for (const entry of Object.values(runtimes)) {
    if (isTable(entry) && isRuncType(entry['runtime_type'])) ensureTable(entry, 'options')['SystemdCgroup'] = options.systemdCgroup;
  }
  const current = containerd['default_runtime_name'];
  const defaultRuntime =
    options.defaultRuntime !== undefined && options.defaultRuntime in runtimes
      ? options.defaultRuntime
      : typeof current === 'string' && current in runtimes
        ? current
        : 'runc';
  containerd['default_runtime_name'] = defaultRuntime;

  if (options.cniBinDir || options.cniConfDir) {
    const cni = ensureTable(runtime, 'cni');
    if (options.cniBinDir) {
      if (options.version >= 3 && (options.containerdVersion === null || atLeast(options.containerdVersion, 2, 1))) {
        cni['bin_dirs'] = [options.cniBinDir];
        delete cni['bin_dir'];
      } else {
        cni['bin_dir'] = options.cniBinDir;
      }
    }
    if (options.cniConfDir) cni['conf_dir'] = options.cniConfDir;
  }

  if (options.registries.length > 0) {
    const registry = ensureTable(images, 'registry');
    // containerd refuses a config that sets both the mirrors table and config_path; the old
    // mirrors are carried over into hosts.toml files by the caller (existingMirrors).
    delete registry['mirrors'];
    // The TLS settings of registry.configs went to hosts.toml (existingRegistryTls); auth stays.
    const configs = registry['configs'];
    if (isTable(configs)) {
      for (const [host, entry] of Object.entries(configs)) {
        if (!isTable(entry) || !('tls' in entry)) continue;
        delete entry['tls'];
        if (Object.keys(entry).length === 0) delete configs[host];
      }
      if (Object.keys(configs).length === 0) delete registry['configs'];
    }
    if (typeof registry['config_path'] !== 'string' || registry['config_path'] === '') {
      registry['config_path'] = DEFAULT_REGISTRY_CONFIG_DIR;
    }
  }
  return defaultRuntime;
}

function isRuncType(runtimeType: TomlPrimitive | undefined): boolean {
  return runtimeType === 'io.containerd.runc.v2' || runtimeType === 'io.containerd.runc.v1';
}

// ---- reading an existing config in any version -----------------------------------------------

/** The config as containerd 2.x's CRI would see it (migrated to version 3), for reading. */
function asVersion3(config: TomlTable, version: ExistingConfigVersion): TomlTable {
  const copy = structuredClone(config);
  if (version < 3) migrateConfig(copy, version, 3, null);
  return copy;
}

function readVersion(config: TomlTable): ExistingConfigVersion {
  const v = config['version'];
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 4 ? (v as ExistingConfigVersion) : 1;
}

/** True when the config, as containerd would read it, turns the CRI plugin off (any config version). */
export function criPluginDisabled(config: TomlTable): boolean {
  const disabled = config['disabled_plugins'];
  if (!Array.isArray(disabled)) return false;
  const version = readVersion(config);
  return disabled.some((name) => typeof name === 'string' && CRI_PLUGIN_IDS.includes(version === 1 ? v1PluginName(name) : name));
}

/** Registry mirrors already configured in the old config (the deprecated mirrors table, any version), to carry over. */
export function existingMirrors(config: TomlTable): Record<string, string[]> {
  const v3 = asVersion3(config, readVersion(config));
  const mirrors = table(table(table(table(v3, 'plugins'), CRI_IMAGES_PLUGIN), 'registry'), 'mirrors');
  const out: Record<string, string[]> = {};
  for (const [host, entry] of Object.entries(mirrors)) {
    const endpoints = isTable(entry) ? entry['endpoint'] : undefined;
    if (Array.isArray(endpoints)) out[host] = endpoints.filter((e): e is string => typeof e === 'string');
  }
  return out;
}

/**
 * TLS settings in the old config's registry.configs.<host>.tls (any version), to move to hosts.toml:
 * containerd 1.6 refuses them next to config_path, and 2.4 no longer reads registry.configs.
 */
export function existingRegistryTls(config: TomlTable): Record<string, RegistryTls> {
  const v3 = asVersion3(config, readVersion(config));
  const configs = table(table(table(table(v3, 'plugins'), CRI_IMAGES_PLUGIN), 'registry'), 'configs');
  const out: Record<string, RegistryTls> = {};
  for (const [host, entry] of Object.entries(configs)) {
    const tls = isTable(entry) ? table(entry, 'tls') : {};
    const settings: RegistryTls = {};
    if (tls['insecure_skip_verify'] === true) settings.skipVerify = true;
    if (typeof tls['ca_file'] === 'string' && tls['ca_file'] !== '') settings.ca = tls['ca_file'];
    if (typeof tls['cert_file'] === 'string' && tls['cert_file'] !== '') settings.client = [tls['cert_file'], typeof tls['key_file'] === 'string' ? tls['key_file'] : ''];
    if (Object.keys(settings).length > 0) out[host] = settings;
  }
  return out;
}

/** The registry config directory a config uses (any version); the default when it sets none. */
export function registryConfigDir(text: string): string {
  const config = parse(text);
  const v3 = asVersion3(config, readVersion(config));
  const dir = table(table(table(v3, 'plugins'), CRI_IMAGES_PLUGIN), 'registry')['config_path'];
  return typeof dir === 'string' && dir !== '' ? dir : DEFAULT_REGISTRY_CONFIG_DIR;
}

/** Parse a config.toml, with an error that names the file. */
export function parseContainerdConfig(text: string, path = CONTAINERD_CONFIG_PATH): TomlTable {
  try {
    return parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid TOML: ${(err as Error).message}`, { cause: err });
  }
}

// ---- registry hosts.toml ---------------------------------------------------------------------

/** Merge mirrors, insecure and plain-http lists into one entry per registry host. */
export function registrySettings(input: {
  mirrors: Readonly<Record<string, readonly string[]>>;
  insecure: readonly string[];
  plainHttp: readonly string[];
  httpsThenHttp?: readonly string[];
  /** Hosts of mirrors that are reached without verifying their certificate (an insecure range in daemon.json). */
  skipVerifyMirrors?: readonly string[];
  tls?: Readonly<Record<string, RegistryTls>>;
}): RegistrySettings[] {
  const fallback = input.httpsThenHttp ?? [];
  const skipMirrors = input.skipVerifyMirrors ?? [];
  const tls = input.tls ?? {};
  const hosts = new Set([...Object.keys(input.mirrors), ...input.insecure, ...input.plainHttp, ...fallback, ...Object.keys(tls)]);
  const insecureHost = (url: string) => {
    const host = hostOf(url);
    return host !== undefined && (input.insecure.includes(host) || fallback.includes(host) || skipMirrors.includes(host));
  };
  return [...hosts].sort().map((host) => {
    const settings: RegistrySettings = {
      host,
      mirrors: [...new Set(input.mirrors[host] ?? [])].map((url) => ({ url, ...(insecureHost(url) ? { skipVerify: true } : {}) })),
      insecure: input.insecure.includes(host),
      plainHttp: input.plainHttp.includes(host),
    };
    if (fallback.includes(host) && !settings.insecure && !settings.plainHttp) settings.httpsThenHttp = true;
    if (tls[host]) settings.tls = tls[host];
    return settings;
  });
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** One <config_path>/<host>/hosts.toml per registry (containerd's registry host configuration). */
export function renderRegistryHosts(registries: readonly RegistrySettings[], configDir: string): GeneratedFile[] {
  return registries.map((registry) => {
    const scheme = registry.plainHttp ? 'http' : 'https';
    const server = registry.host === 'docker.io' && !registry.plainHttp ? 'https://registry-1.docker.io' : `${scheme}://${registry.host}`;
    const hosts: TomlTable = {};
    for (const mirror of registry.mirrors) {
      const entry: TomlTable = { capabilities: ['pull', 'resolve'] };
      if ((mirror.skipVerify || registry.insecure) && mirror.url.startsWith('https://')) entry['skip_verify'] = true;
      hosts[mirror.url.replace(/\/+$/, '')] = entry;
    }
    if (registry.httpsThenHttp) {
      // Docker's order for an insecure registry: HTTPS without verifying the certificate, then
      // plain HTTP. containerd tries the hosts in this order and moves on when one fails.
      hosts[`https://${registry.host}`] = { capabilities: ['pull', 'resolve', 'push'], skip_verify: true };
      hosts[`http://${registry.host}`] = { capabilities: ['pull', 'resolve', 'push'] };
    } else if (registry.insecure || registry.plainHttp) {
      const entry: TomlTable = { capabilities: ['pull', 'resolve', 'push'] };
      if (registry.insecure) entry['skip_verify'] = true;
      hosts[server] = entry;
    }
    const doc: TomlTable = { server };
    // Root-level settings apply to the server (docs/hosts.md).
    if (registry.tls?.ca) doc['ca'] = registry.tls.ca;
    if (registry.tls?.client) doc['client'] = [registry.tls.client];
    if (registry.tls?.skipVerify) doc['skip_verify'] = true;
    if (Object.keys(hosts).length > 0) doc['host'] = hosts;
    return {
      path: `${configDir.replace(/\/+$/, '')}/${registry.host}/hosts.toml`,
      content: `# Generated by cri-migrator.\n${stringify(doc).trimEnd()}\n`,
      mode: 0o644,
    };
  });
}

export function renderCrictlConfig(): GeneratedFile {
  const endpoint = 'unix:///run/containerd/containerd.sock';
  return {
    path: '/etc/crictl.yaml',
    content: `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 10\n`,
    mode: 0o644,
  };
}

// ---- TOML helpers ----------------------------------------------------------------------------

export function isTable(value: TomlPrimitive | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function table(parent: TomlTable, key: string): TomlTable {
  const value = parent[key];
  return isTable(value) ? value : {};
}

function ensureTable(parent: TomlTable, key: string): TomlTable {
  const value = parent[key];
  if (isTable(value)) return value;
  const created: TomlTable = {};
  parent[key] = created;
  return created;
}

function dropEmpty(parent: TomlTable, key: string): void {
  const value = parent[key];
  if (isTable(value) && Object.keys(value).length === 0) delete parent[key];
}

/** Only empty strings, zeros and false: containerd reads it as if it were absent. */
function isEmptyOfValues(t: TomlTable): boolean {
  return Object.values(t).every((v) => v === '' || v === 0 || v === false);
}
