// Preflight verdicts computed from gathered facts (pure). The playbook adds command-level asserts.
import type { Config } from '../config.js';
import type { SourceRuntime } from '../domain/types.js';
import { atLeast, compareMinor, formatVersion } from '../domain/version.js';
import { criPluginDisabled, parseContainerdConfig } from './containerd-config.js';
import type { HostFacts } from './facts.js';
import { PATHS } from './facts.js';
import type { RenderedFiles } from './files.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
}

const check = (name: string, ok: boolean, good: string, bad: string): CheckResult => ({ name, ok, message: ok ? good : bad });

export function preflightChecks(facts: HostFacts, config: Config, source: SourceRuntime, rendered: RenderedFiles): CheckResult[] {
  const kubelet = facts.kubeletVersion;
  const containerd = facts.containerdVersion;
  const neededContainerd = atLeast(kubelet, 1, 26) ? { major: 1, minor: 6 } : { major: 1, minor: 5 };
  const renderedConfig = rendered.files.find((f) => f.path === PATHS.containerdConfig);
  const results: CheckResult[] = [
    check(
      'kubelet-version',
      atLeast(kubelet, 1, 20) && compareMinor(kubelet, 1, 34) <= 0,
      `kubelet ${formatVersion(kubelet)} is supported`,
      `kubelet ${formatVersion(kubelet)} is outside the supported range 1.20 .. 1.34`,
    ),
    check(
      'containerd-installed',
      facts.binaries.containerd !== '' && containerd !== null,
      `containerd ${containerd ? formatVersion(containerd) : ''} at ${facts.binaries.containerd}`,
      'containerd is not installed (or not on the systemd PATH): install containerd 1.6 or newer first',
    ),
    check(
      'containerd-version',
      containerd !== null && compareMinor(containerd, neededContainerd.major, neededContainerd.minor) >= 0,
      `containerd ${containerd ? formatVersion(containerd) : ''} is new enough for kubelet ${kubelet.major}.${kubelet.minor}`,
      `containerd ${containerd ? formatVersion(containerd) : '(missing)'} is too old for kubelet ${kubelet.major}.${kubelet.minor}: ` +
        `${neededContainerd.major}.${neededContainerd.minor}+ is needed`,
    ),
    check(
      'runc-on-path',
      facts.binaries.runc !== '',
      `runc at ${facts.binaries.runc}`,
      'runc is not on the PATH containerd runs with (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin): install it or link it there',
    ),
    check(
      'crictl-installed',
      facts.binaries.crictl !== '',
      `crictl at ${facts.binaries.crictl}`,
      'crictl is not installed: install cri-tools (needed to check that containerd serves the CRI)',
    ),
    check(
      'overlayfs',
      facts.overlayfs,
      'overlay filesystem is available',
      'the overlay filesystem is not available: load the overlay kernel module (modprobe overlay)',
    ),
    check(
      'filesystem-d_type',
      facts.backingFilesystem !== 'xfs' || facts.xfsFtype !== false,
      `${facts.backingFilesystem || 'filesystem'} under /var/lib/containerd supports overlayfs`,
      'the xfs filesystem under /var/lib/containerd was made with ftype=0 (no d_type): overlayfs will not work; use a filesystem with ftype=1',
    ),
    check(
      'disk-space',
      facts.freeDiskMiB >= config.containerd.minFreeDiskMiB,
      `${facts.freeDiskMiB} MiB free under /var/lib/containerd`,
      `only ${facts.freeDiskMiB} MiB free under /var/lib/containerd, ${config.containerd.minFreeDiskMiB} MiB needed (containerd.minFreeDiskMiB): free some space`,
    ),
    check(
      'cri-plugin-enabled',
      renderedConfig !== undefined && !criPluginDisabled(parseContainerdConfig(renderedConfig.content)),
      'the generated containerd config keeps the CRI plugin enabled',
      'the generated containerd config disables the CRI plugin',
    ),
  ];
  if (source === 'dockershim') {
    results.push(
      check(
        'source-dockershim',
        !atLeast(kubelet, 1, 24) && facts.units.includes('docker.service'),
        'kubelet uses the built-in dockershim with docker.service',
        `the dockershim playbook needs kubelet <= 1.23 and docker.service (kubelet ${formatVersion(kubelet)}, units: ${facts.units.join(', ') || 'none'})`,
      ),
    );
  } else {
    results.push(
      check(
        'source-cri-dockerd',
        facts.units.includes('cri-docker.service') || facts.units.includes('cri-docker.socket'),
        'kubelet uses Docker through cri-dockerd',
        `the cri-dockerd playbook needs cri-docker.service or cri-docker.socket (units: ${facts.units.join(', ') || 'none'})`,
      ),
    );
  }
  if (config.containerd.preloadSandboxImage) {
    results.push(
      check(
        'preload-tools',
        facts.binaries.docker !== '' && facts.binaries.ctr !== '',
        'docker and ctr are available to preload the sandbox image',
        'containerd.preloadSandboxImage needs both docker and ctr on the node',
      ),
    );
  }
  return results;
}
