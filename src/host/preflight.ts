// Preflight verdicts computed from gathered facts (pure). The playbook adds command-level asserts.
import type { Config } from '../config.js';
import type { SourceRuntime } from '../domain/types.js';
import { atLeast, compareMinor, formatVersion } from '../domain/version.js';
import { criPluginDisabled, parseContainerdConfig } from './containerd-config.js';
import type { HostFacts } from './facts.js';
import { mib, planCarry } from './images.js';
import { PATHS } from './facts.js';
import type { RenderedFiles } from './files.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
  /**
   * warning: the migration goes on, but something the node relied on is not carried over (ok stays
   * true, so preflight does not fail); info: what will be carried or written, for the plan.
   */
  severity?: 'warning' | 'info';
  /** A failure that passes by itself (the node still starting): preflight is asked again after a backoff, not counted. */
  transient?: true;
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
    ...rendered.blockers.map((b) => ({ name: b.name, ok: false, message: b.message })),
  ];
  if (renderedConfig !== undefined) {
    const summary = rendered.containerd;
    const from = summary.from === null ? 'no existing file' : summary.from === summary.version ? `the existing file is version ${summary.from} too` : `the existing version ${summary.from} file is migrated as containerd migrates it (${summary.migrated.length} setting(s) moved or dropped), its other settings kept`;
    results.push(
      {
        name: 'containerd-config-version',
        ok: true,
        message: `writes config version ${summary.version}: ${summary.reason}; ${from}; default runtime ${summary.defaultRuntime}`,
      },
      check(
        'cri-plugin-enabled',
        !criPluginDisabled(parseContainerdConfig(renderedConfig.content)),
        'the generated containerd config keeps the CRI plugin enabled',
        'the generated containerd config disables the CRI plugin',
      ),
    );
  }
  for (const item of rendered.carried) {
    results.push({
      name: `carried-${item.key}`,
      ok: true,
      severity: 'info',
      message: item.overriddenBy
        ? `daemon.json ${item.key} ${item.value}: not carried, ${item.overriddenBy} wins`
        : `daemon.json ${item.key} ${item.value} -> ${item.to}`,
    });
  }
  for (const warning of rendered.warnings) {
    results.push({ name: `daemon-json-${warning.key}`, ok: true, severity: 'warning', message: warning.message });
  }
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
  results.push(...imageChecks(facts, config, rendered));
  return results;
}

/** What Docker runs besides Kubernetes, and the images to carry into containerd (listed, with their sizes). */
function imageChecks(facts: HostFacts, config: Config, rendered: RenderedFiles): CheckResult[] {
  const out: CheckResult[] = [];
  const plan = planCarry(facts.images, { sandboxImage: rendered.sandboxImage, include: config.images.include, exclude: config.images.exclude });
  const others = plan.nonKubernetes.map((c) => `${c.name} (${c.image})`).join(', ');
  if (plan.nonKubernetes.length > 0) {
    out.push(
      config.preflight.allowNonKubernetesContainers
        ? { name: 'non-kubernetes-containers', ok: true, severity: 'warning', message: `Docker runs containers outside Kubernetes, stopped with Docker and not started again: ${others} (preflight.allowNonKubernetesContainers)` }
        : {
            name: 'non-kubernetes-containers',
            ok: false,
            message: `Docker runs containers outside Kubernetes on this node: ${others}. They would stop with Docker: move them (to pods, or to containerd/systemd), or set preflight.allowNonKubernetesContainers`,
          },
    );
  }
  if (!config.images.carryOver) {
    const missing = plan.images.filter((i) => !i.present).map((i) => i.ref);
    if (missing.length > 0) {
      out.push({ name: 'images', ok: true, severity: 'warning', message: `images.carryOver is off: after the switch these are pulled from their registries: ${missing.join(', ')}` });
    }
    return out;
  }
  if (!facts.images.dockerRunning && !plan.fromRecord && facts.images.starting) {
    out.push({ name: 'images-docker', ok: false, transient: true, message: 'Docker is not running yet: the node is still starting (docker.service activating, or systemd booting); asking again after a backoff' });
    return out;
  }
  if (!facts.images.dockerRunning && !plan.fromRecord) {
    out.push({ name: 'images-docker', ok: false, message: 'Docker is not running, so its images cannot be carried into containerd: start docker.service, or set images.carryOver false' });
    return out;
  }
  for (const problem of plan.problems) out.push({ name: 'images-carry', ok: false, message: `${problem} (or leave it out with images.exclude)` });
  const todo = plan.images.filter((i) => !i.present);
  const fromMoby = todo.filter((i) => i.fromMoby).length;
  const list = plan.images.map((i) => `${i.ref} ${i.present ? '(already in containerd)' : `(${mib(i.sizeBytes)})`}`).join(', ');
  const limit = config.images.maxTotalMiB;
  if (limit > 0 && plan.bytesToMove > limit * 1024 * 1024) {
    out.push({ name: 'images-size', ok: false, message: `${todo.length} images, ${mib(plan.bytesToMove)} to carry, more than images.maxTotalMiB (${limit} MiB): ${list}` });
  } else {
    out.push({
      name: 'images',
      ok: true,
      severity: 'info',
      message:
        `${plan.images.length} images into containerd's k8s.io namespace, ${todo.length} to carry (${mib(plan.bytesToMove)})${plan.excluded.length ? `, ${plan.excluded.length} excluded (${plan.excluded.join(', ')})` : ''}: ${list}` +
        (fromMoby > 0 ? `; Docker keeps its images in containerd (containerd image store): ${fromMoby} taken from its moby namespace (ctr export | ctr import, blobs shared with k8s.io, not copied)` : ''),
    });
  }
  return out;
}
