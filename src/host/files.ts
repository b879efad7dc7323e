// Every file the migration writes, rendered from the node's facts and the config. Pure: the plan
// (dry run) and the real run show and write exactly the same bytes. What could not be rendered is a
// blocker that preflight reports before anything changes; what daemon.json held is carried over
// or named in a warning.
import type { Config } from '../config.js';
import type { HostFacts } from './facts.js';
import { cgroupDriver, cniDirs, kubeletLogRotation, originalKubeletArgs, PATHS, sandboxImage } from './facts.js';
import {
  DEFAULT_REGISTRY_CONFIG_DIR,
  existingMirrors,
  existingRegistryTls,
  planContainerdConfig,
  readExistingConfig,
  registryConfigDir,
  registrySettings,
  renderCrictlConfig,
  renderRegistryHosts,
  targetConfigVersion,
  type ConfigVersion,
  type ExistingConfigVersion,
  type GeneratedFile,
} from './containerd-config.js';
import { carryDockerSettings, readDaemonJson, type CarriedItem, type DaemonJsonWarning, type DockerCarryOver } from './daemon-json.js';
import { rewriteRuntimeEndpoint, setTopLevelFields } from './kubelet-config.js';
import { rewriteEnvFile } from './kubelet-flags.js';
import { renderProxyDropIn } from './systemd-unit.js';

import { type FileGroup } from '../playbooks/schema.js';
export type { FileGroup };

export interface ManagedFile extends GeneratedFile {
  group: FileGroup;
}

export interface ContainerdConfigSummary {
  /** The config version written; null when the config could not be rendered (see blockers). */
  version: ConfigVersion | null;
  /** Why that version, e.g. "containerd 2.2.9 reads config version 3". */
  reason: string;
  /** The existing file's version; null: there was none. */
  from: ExistingConfigVersion | null;
  /** Tables moved to the target version's names. */
  migrated: string[];
  defaultRuntime: string;
}

export interface RenderedFiles {
  sandboxImage: string;
  systemdCgroup: boolean;
  files: ManagedFile[];
  containerd: ContainerdConfigSummary;
  /** What /etc/docker/daemon.json held and where it went (or what won over it). */
  carried: CarriedItem[];
  /** What the node relied on that cannot be carried: shown, never fails preflight. */
  warnings: DaemonJsonWarning[];
  /** What stops the migration before anything changes; preflight fails on each. */
  blockers: { name: string; message: string }[];
}

export function renderFiles(facts: HostFacts, config: Config): RenderedFiles {
  const image = sandboxImage(facts, config);
  const systemdCgroup = cgroupDriver(facts) === 'systemd';
  const files: ManagedFile[] = [];
  const blockers: RenderedFiles['blockers'] = [];
  const add = (group: FileGroup, file: GeneratedFile | null) => {
    if (file) files.push({ group, ...file });
  };

  const oldContainerd = facts.files.containerdConfig.content;
  const existing = readExistingConfig(oldContainerd);
  const configDir = existing.kind === 'parsed' && oldContainerd ? registryConfigDir(oldContainerd) : DEFAULT_REGISTRY_CONFIG_DIR;
  const docker = dockerSettings(facts, config, systemdCgroup, configDir);
  if (docker.blocker) blockers.push(docker.blocker);
  const carried = docker.carryOver;

  // Mirrors: cri-migrator's config wins over daemon.json per registry; the old config.toml's
  // deprecated mirrors table comes after (containerd refuses it next to config_path).
  const mirrors: Record<string, string[]> = {};
  for (const [host, endpoints] of Object.entries(carried?.mirrors ?? {})) mirrors[host] = [...endpoints];
  for (const [host, endpoints] of Object.entries(config.containerd.registryMirrors)) mirrors[host] = [...endpoints];
  for (const [host, endpoints] of Object.entries(existing.kind === 'parsed' ? existingMirrors(existing.table) : {})) {
    mirrors[host] = [...(mirrors[host] ?? []), ...endpoints];
  }
  const registries = registrySettings({
    mirrors,
    insecure: config.containerd.insecureRegistries,
    plainHttp: config.containerd.plainHttpRegistries,
    httpsThenHttp: carried?.httpsThenHttp ?? [],
    skipVerifyMirrors: carried?.skipVerifyHosts ?? [],
    tls: existing.kind === 'parsed' ? existingRegistryTls(existing.table) : {},
  });

  const containerdWarnings: DaemonJsonWarning[] = [];
  const target = targetConfigVersion(facts.containerdVersion, config.containerd.configVersion);
  let summary: ContainerdConfigSummary = { version: null, reason: '', from: existing.kind === 'parsed' ? existing.version : null, migrated: [], defaultRuntime: 'runc' };
  if (!target.ok) {
    blockers.push({ name: 'containerd-config', message: target.problem });
    summary.reason = target.problem;
  } else {
    const plan = planContainerdConfig(oldContainerd, {
      version: target.version,
      containerdVersion: facts.containerdVersion,
      systemdCgroup,
      sandboxImage: image,
      registries,
      ...cniDirs(facts),
      ...(carried?.runtimes.length ? { runtimes: carried.runtimes } : {}),
      ...(carried?.defaultRuntime !== undefined ? { defaultRuntime: carried.defaultRuntime } : {}),
      ...(carried?.enableSelinux !== undefined ? { enableSelinux: carried.enableSelinux } : {}),
      ...(carried?.maxConcurrentDownloads !== undefined ? { maxConcurrentDownloads: carried.maxConcurrentDownloads } : {}),
    });
    if (!plan.ok) {
      blockers.push({ name: 'containerd-config', message: plan.problem });
      summary.reason = plan.problem;
    } else {
      summary = { version: plan.version, reason: target.reason, from: plan.from, migrated: plan.migrated, defaultRuntime: plan.defaultRuntime };
      containerdWarnings.push(...plan.warnings.map((message) => ({ key: 'containerd-config', message })));
      add('containerd-config', { path: PATHS.containerdConfig, content: plan.content, mode: 0o644 });
      for (const hosts of renderRegistryHosts(registries, registryConfigDir(plan.content))) add('registry-hosts', hosts);
    }
  }
  const proxy = {
    httpProxy: config.containerd.httpProxy || (carried?.proxy.httpProxy ?? ''),
    httpsProxy: config.containerd.httpsProxy || (carried?.proxy.httpsProxy ?? ''),
    noProxy: config.containerd.noProxy || (carried?.proxy.noProxy ?? ''),
  };
  add('containerd-proxy', renderProxyDropIn(proxy));
  add('crictl-config', renderCrictlConfig());

  const kubeletVersion = facts.kubeletVersion;
  add('kubeadm-flags', {
    path: PATHS.kubeadmFlags,
    content: rewriteEnvFile(facts.files.kubeadmFlags.content, {
      variable: 'KUBELET_KUBEADM_ARGS',
      options: { kubeletVersion, sandboxImage: image, ensureEndpoint: true },
    })!,
    mode: 0o644,
  });
  const { extraFile } = originalKubeletArgs(facts);
  if (extraFile) {
    const original = facts.files[extraFile].content;
    const rewritten = rewriteEnvFile(original, {
      variable: 'KUBELET_EXTRA_ARGS',
      options: { kubeletVersion, sandboxImage: image, ensureEndpoint: false },
    });
    if (rewritten !== null && rewritten !== original) add('kubelet-extra-args', { path: PATHS[extraFile], content: rewritten, mode: 0o644 });
  }
  const warnings = [...containerdWarnings, ...(carried?.warnings ?? [])];
  const kubeletConfig = renderKubeletConfig(facts, carried, warnings);
  if (kubeletConfig !== null) add('kubelet-config', { path: PATHS.kubeletConfig, content: kubeletConfig, mode: 0o644 });
  const instanceConfig = rewriteRuntimeEndpoint(facts.files.instanceConfig.content, PATHS.instanceConfig);
  if (instanceConfig !== null) add('instance-config', { path: PATHS.instanceConfig, content: instanceConfig, mode: 0o644 });

  return { sandboxImage: image, systemdCgroup, files, containerd: summary, carried: carried?.carried ?? [], warnings, blockers };
}

function dockerSettings(
  facts: HostFacts,
  config: Config,
  systemdCgroup: boolean,
  registryConfigDir: string,
): { carryOver?: DockerCarryOver; blocker?: { name: string; message: string } } {
  if (!config.containerd.carryDockerSettings) return {};
  const daemon = readDaemonJson(facts.files.dockerDaemonJson.content, PATHS.dockerDaemonJson);
  if (daemon.kind === 'absent') return {};
  if (daemon.kind === 'invalid') return { blocker: { name: 'daemon-json', message: daemon.problem } };
  const c = config.containerd;
  return {
    carryOver: carryDockerSettings(daemon.settings, {
      registryMirrors: c.registryMirrors,
      insecureRegistries: c.insecureRegistries,
      plainHttpRegistries: c.plainHttpRegistries,
      httpProxy: c.httpProxy,
      httpsProxy: c.httpsProxy,
      noProxy: c.noProxy,
      systemdCgroup,
      kubeletLog: kubeletLogRotation(facts),
      registryConfigDir,
      kubeletConfigPath: PATHS.kubeletConfig,
    }),
  };
}

/** config.yaml: the runtime endpoint where the file names one, and the log rotation carried from Docker. */
function renderKubeletConfig(facts: HostFacts, carried: DockerCarryOver | undefined, warnings: DaemonJsonWarning[]): string | null {
  const original = facts.files.kubeletConfig.content;
  let text = rewriteRuntimeEndpoint(original, PATHS.kubeletConfig);
  const log: Record<string, string | number> = {};
  if (carried?.kubeletLog.containerLogMaxSize !== undefined) log['containerLogMaxSize'] = carried.kubeletLog.containerLogMaxSize;
  if (carried?.kubeletLog.containerLogMaxFiles !== undefined) log['containerLogMaxFiles'] = carried.kubeletLog.containerLogMaxFiles;
  if (Object.keys(log).length === 0) return text;
  if (original === null) {
    warnings.push({
      key: 'log-opts',
      message: `the kubelet has no ${PATHS.kubeletConfig}: Docker's log rotation is not carried; set --container-log-max-size / --container-log-max-files on the kubelet`,
    });
    return text;
  }
  text = setTopLevelFields(text ?? original, PATHS.kubeletConfig, log);
  return text === original ? null : text;
}
