// Every file the migration writes, rendered from the node's facts and the config. Pure: the plan
// (dry run) and the real run show and write exactly the same bytes.
import type { Config } from '../config.js';
import type { HostFacts } from './facts.js';
import { cgroupDriver, cniDirs, originalKubeletArgs, PATHS, sandboxImage } from './facts.js';
import {
  existingMirrors,
  parseContainerdConfig,
  registryConfigDir,
  registrySettings,
  renderContainerdConfig,
  renderCrictlConfig,
  renderProxyDropIn,
  renderRegistryHosts,
  type GeneratedFile,
} from './containerd-config.js';
import { rewriteRuntimeEndpoint } from './kubelet-config.js';
import { rewriteEnvFile } from './kubelet-flags.js';

/** Names a playbook's write steps refer to. A group may render to zero or more files. */
export const FILE_GROUPS = [
  'containerd-config',
  'registry-hosts',
  'containerd-proxy',
  'crictl-config',
  'kubeadm-flags',
  'kubelet-extra-args',
  'kubelet-config',
  'instance-config',
] as const;
export type FileGroup = (typeof FILE_GROUPS)[number];

export interface ManagedFile extends GeneratedFile {
  group: FileGroup;
}

export interface RenderedFiles {
  sandboxImage: string;
  systemdCgroup: boolean;
  files: ManagedFile[];
}

export function renderFiles(facts: HostFacts, config: Config): RenderedFiles {
  const image = sandboxImage(facts, config);
  const systemdCgroup = cgroupDriver(facts) === 'systemd';
  const files: ManagedFile[] = [];
  const add = (group: FileGroup, file: GeneratedFile | null) => {
    if (file) files.push({ group, ...file });
  };

  const oldContainerd = facts.files.containerdConfig.content;
  const carried = oldContainerd ? existingMirrors(parseContainerdConfig(oldContainerd)) : {};
  const mirrors: Record<string, string[]> = { ...carried };
  for (const [host, endpoints] of Object.entries(config.containerd.registryMirrors)) {
    mirrors[host] = [...endpoints, ...(mirrors[host] ?? [])];
  }
  const registries = registrySettings({
    mirrors,
    insecure: config.containerd.insecureRegistries,
    plainHttp: config.containerd.plainHttpRegistries,
  });
  const containerdToml = renderContainerdConfig(oldContainerd, { systemdCgroup, sandboxImage: image, registries, ...cniDirs(facts) });
  add('containerd-config', { path: PATHS.containerdConfig, content: containerdToml, mode: 0o644 });
  for (const hosts of renderRegistryHosts(registries, registryConfigDir(containerdToml))) add('registry-hosts', hosts);
  add('containerd-proxy', renderProxyDropIn(config.containerd));
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
  const kubeletConfig = rewriteRuntimeEndpoint(facts.files.kubeletConfig.content, PATHS.kubeletConfig);
  if (kubeletConfig !== null) add('kubelet-config', { path: PATHS.kubeletConfig, content: kubeletConfig, mode: 0o644 });
  const instanceConfig = rewriteRuntimeEndpoint(facts.files.instanceConfig.content, PATHS.instanceConfig);
  if (instanceConfig !== null) add('instance-config', { path: PATHS.instanceConfig, content: instanceConfig, mode: 0o644 });

  return { sandboxImage: image, systemdCgroup, files };
}
