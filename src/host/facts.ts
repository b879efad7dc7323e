// Facts about a node, gathered over SSH in one read-only round trip, and the values derived from
// them (cgroup driver, sandbox image, source runtime). Files are read from the backup when one
// exists, so a resumed migration renders from the originals and stays deterministic.
import type { Config } from '../config.js';
import { CONTAINERD_SOCKET } from '../domain/annotations.js';
import type { NodeView, SourceRuntime } from '../domain/types.js';
import { atLeast, parseVersion, type MinorVersion } from '../domain/version.js';
import type { RemoteHost } from '../ports.js';
import { readKubeletConfig, type CgroupDriver } from './kubelet-config.js';
import { envFileArgs, flagValue } from './kubelet-flags.js';
import { IMAGES_END, imagesScript, parseImagesFacts, type ImageFacts } from './images.js';
import { shQuote, SYSTEMD_DEFAULT_PATH } from './shell.js';

export const PATHS = {
  kubeadmFlags: '/var/lib/kubelet/kubeadm-flags.env',
  kubeletConfig: '/var/lib/kubelet/config.yaml',
  instanceConfig: '/var/lib/kubelet/instance-config.yaml',
  containerdConfig: '/etc/containerd/config.toml',
  crictl: '/etc/crictl.yaml',
  kubeletDefaultsDebian: '/etc/default/kubelet',
  kubeletDefaultsRedHat: '/etc/sysconfig/kubelet',
  /** Read only: what Docker was told, carried over (daemon-json.ts). */
  dockerDaemonJson: '/etc/docker/daemon.json',
} as const;

export type FileKey = keyof typeof PATHS;


export interface OriginalFile {
  path: string;
  /** null: the file did not exist before the migration. */
  content: string | null;
  /** Read from our backup rather than the live file. */
  fromBackup: boolean;
}

export interface HostFacts {
  kubeletVersion: MinorVersion;
  containerdVersion: MinorVersion | null;
  /** Binaries on systemd's default PATH ("" when absent). */
  binaries: { containerd: string; runc: string; crictl: string; ctr: string; docker: string };
  os: string;
  freeDiskMiB: number;
  /** Filesystem type under /var/lib/containerd, and for xfs whether it has d_type (ftype=1). */
  backingFilesystem: string;
  xfsFtype: boolean | null;
  overlayfs: boolean;
  /** systemd units that exist: docker.service, cri-docker.service, containerd.service, ... */
  units: string[];
  files: Record<FileKey, OriginalFile>;
  /** Docker's containers and images, containerd's k8s.io images (for carrying images over). */
  images: ImageFacts;
}

const MARK = '@@cri-migrator:';

/** The systemd units whose presence the facts record. */
const PROBED_UNITS = ['docker.service', 'docker.socket', 'cri-docker.service', 'cri-docker.socket', 'containerd.service', 'kubelet.service'];
/**
 * The units of one `systemctl show` call (one process and one D-Bus round trip for all of them)
 * whose unit file exists: each unit is a paragraph of Id= and LoadState= lines in either order,
 * and a unit without a file is LoadState=not-found.
 */
const UNITS_AWK = 'BEGIN { RS = "" } { id = ""; st = ""; n = split($0, l, "\\n"); for (i = 1; i <= n; i++) { if (l[i] ~ /^Id=/) id = substr(l[i], 4); if (l[i] ~ /^LoadState=/) st = substr(l[i], 11) } if (id != "" && st != "" && st != "not-found") print id }';

/** One shell script printing every fact behind a marker line. Read-only. */
export function factsScript(backupDir: string): string {
  const fileReads = Object.values(PATHS)
    .map((path) => `orig ${shQuote(path)}`)
    .join('\n');
  return `set +e
export PATH=${SYSTEMD_DEFAULT_PATH}:$PATH
B=${shQuote(backupDir)}
sec() { echo "${MARK}$1"; }
orig() {
  if [ -e "$B$1.absent" ]; then echo "${MARK}file $1 absent backup"
  elif [ -f "$B$1" ]; then echo "${MARK}file $1 present backup"; base64 -w0 < "$B$1"; echo
  elif [ -f "$1" ]; then echo "${MARK}file $1 present live"; base64 -w0 < "$1"; echo
  else echo "${MARK}file $1 absent live"; fi
}
sec kubelet-version; kubelet --version 2>/dev/null
sec containerd-version; containerd --version 2>/dev/null
for b in containerd runc crictl ctr docker; do sec "bin-$b"; PATH=${SYSTEMD_DEFAULT_PATH} command -v "$b"; done
sec os; (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -sr
d=/var/lib/containerd; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
sec free-kib; df -Pk "$d" | awk 'NR==2 {print $4}'
sec fs-type; stat -f -c %T "$d"
sec xfs-ftype; if [ "$(stat -f -c %T "$d")" = xfs ]; then xfs_info "$(df -P "$d" | awk 'NR==2 {print $6}')" 2>/dev/null | grep -o 'ftype=[01]' | head -n1; fi
sec overlay; if grep -qw overlay /proc/filesystems; then echo yes; elif modprobe -n overlay 2>/dev/null; then echo yes; else echo no; fi
sec units; systemctl show --property=Id,LoadState ${PROBED_UNITS.join(' ')} 2>/dev/null | awk ${shQuote(UNITS_AWK)}
${fileReads}
sec end
`;
}

export async function gatherFacts(
  remote: RemoteHost,
  config: Config,
  backupDir: string,
  timeoutMs = config.ssh.commandTimeoutSeconds * 1000,
): Promise<HostFacts> {
  // Two read-only commands at once over the one connection (two SSH channels): the host's facts,
  // and the images probe, whose Docker and containerd calls take as long as the rest together.
  const options = { timeoutMs, mutates: false } as const;
  const [host, images] = await Promise.all([remote.exec(factsScript(backupDir), options), remote.exec(imagesScript(backupDir), options)]);
  const output = `${host.stdout}${images.stdout}`;
  for (const [what, result, end] of [['facts', host, `${MARK}end`], ['the images probe', images, IMAGES_END]] as const) {
    if (!output.includes(end)) {
      throw new Error(`gathering ${what} on ${remote.target} failed (exit ${result.code}): ${result.stderr.trim() || 'no output'}`);
    }
  }
  return parseFacts(output);
}

/** Parse factsScript's output. Pure. */
export function parseFacts(output: string): HostFacts {
  const sections = new Map<string, string>();
  const files = {} as Record<FileKey, OriginalFile>;
  const pathKeys = new Map<string, FileKey>(Object.entries(PATHS).map(([k, p]) => [p, k as FileKey]));
  let current: string | undefined;
  let currentFile: OriginalFile | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith(MARK)) {
      current = line.slice(MARK.length).trim();
      currentFile = undefined;
      const file = /^file (\S+) (present|absent) (backup|live)$/.exec(current);
      if (file) {
        const key = pathKeys.get(file[1]!);
        if (key) {
          currentFile = { path: file[1]!, content: file[2] === 'present' ? '' : null, fromBackup: file[3] === 'backup' };
          files[key] = currentFile;
        }
        current = undefined;
      } else {
        sections.set(current, '');
      }
      continue;
    }
    if (currentFile && currentFile.content !== null && line.trim() !== '') {
      currentFile.content += Buffer.from(line.trim(), 'base64').toString('utf8');
    } else if (current !== undefined) {
      sections.set(current, `${sections.get(current)}${line}\n`);
    }
  }
  const text = (name: string) => (sections.get(name) ?? '').trim();
  for (const [key, path] of Object.entries(PATHS)) {
    files[key as FileKey] ??= { path, content: null, fromBackup: false };
  }
  const kubeletText = text('kubelet-version');
  if (!kubeletText) throw new Error('kubelet --version printed nothing: is the kubelet installed on this node?');
  const containerdText = text('containerd-version');
  const ftype = text('xfs-ftype');
  const freeKiB = Number(text('free-kib'));
  return {
    kubeletVersion: parseVersion(kubeletText),
    containerdVersion: containerdText ? parseVersion(containerdText.replace(/^containerd\s+\S+\s+/, '')) : null,
    binaries: {
      containerd: text('bin-containerd'),
      runc: text('bin-runc'),
      crictl: text('bin-crictl'),
      ctr: text('bin-ctr'),
      docker: text('bin-docker'),
    },
    os: text('os'),
    freeDiskMiB: Number.isFinite(freeKiB) ? Math.floor(freeKiB / 1024) : 0,
    backingFilesystem: text('fs-type'),
    xfsFtype: ftype === '' ? null : ftype === 'ftype=1',
    overlayfs: text('overlay') === 'yes',
    units: text('units').split('\n').filter(Boolean),
    files,
    images: parseImagesFacts(output),
  };
}

/** The kubelet flags as they were before the migration: kubeadm's, then the admin's extra args. */
export function originalKubeletArgs(facts: HostFacts): { kubeadm: string[]; extra: string[]; extraFile: FileKey | null } {
  const extraFile: FileKey | null =
    facts.files.kubeletDefaultsDebian.content !== null
      ? 'kubeletDefaultsDebian'
      : facts.files.kubeletDefaultsRedHat.content !== null
        ? 'kubeletDefaultsRedHat'
        : null;
  return {
    kubeadm: envFileArgs(facts.files.kubeadmFlags.content, 'KUBELET_KUBEADM_ARGS'),
    extra: extraFile ? envFileArgs(facts.files[extraFile].content, 'KUBELET_EXTRA_ARGS') : [],
    extraFile,
  };
}

/** KUBELET_EXTRA_ARGS come after KUBELET_KUBEADM_ARGS on the kubelet's command line, so they win. */
function effectiveFlag(facts: HostFacts, name: string): string | undefined {
  const args = originalKubeletArgs(facts);
  return flagValue([...args.kubeadm, ...args.extra], name);
}

export function cgroupDriver(facts: HostFacts): CgroupDriver {
  const flag = effectiveFlag(facts, '--cgroup-driver');
  if (flag === 'systemd' || flag === 'cgroupfs') return flag;
  const fromConfig = readKubeletConfig(facts.files.kubeletConfig.content, PATHS.kubeletConfig).cgroupDriver;
  // The kubelet's own default, when neither says, is cgroupfs.
  return fromConfig ?? 'cgroupfs';
}

/** kubeadm's default pause image per kubelet minor version. */
export function defaultSandboxImage(version: MinorVersion): string {
  const byMinor: [number, string][] = [
    [34, 'registry.k8s.io/pause:3.10.1'],
    [31, 'registry.k8s.io/pause:3.10'],
    [26, 'registry.k8s.io/pause:3.9'],
    [25, 'registry.k8s.io/pause:3.8'],
    [24, 'registry.k8s.io/pause:3.7'],
    [23, 'k8s.gcr.io/pause:3.6'],
    [22, 'k8s.gcr.io/pause:3.5'],
    [21, 'k8s.gcr.io/pause:3.4.1'],
  ];
  for (const [minor, image] of byMinor) if (atLeast(version, 1, minor)) return image;
  return 'k8s.gcr.io/pause:3.2';
}

/** Configured image, else the kubelet's --pod-infra-container-image, else kubeadm's default. */
export function sandboxImage(facts: HostFacts, config: Config): string {
  return config.containerd.sandboxImage || effectiveFlag(facts, '--pod-infra-container-image') || defaultSandboxImage(facts.kubeletVersion);
}

/** The kubelet's own log rotation settings (flag over config file), where it sets them: they win over daemon.json. */
export function kubeletLogRotation(facts: HostFacts): { maxSize?: { value: string; source: string }; maxFiles?: { value: string; source: string } } {
  const fromFile = readKubeletConfig(facts.files.kubeletConfig.content, PATHS.kubeletConfig);
  const pick = (flag: string, field: string, fileValue: string | number | undefined) => {
    const value = effectiveFlag(facts, flag);
    if (value !== undefined) return { value, source: `the kubelet flag ${flag}=${value}` };
    if (fileValue !== undefined) return { value: String(fileValue), source: `${field}: ${fileValue} in ${PATHS.kubeletConfig}` };
    return undefined;
  };
  const maxSize = pick('--container-log-max-size', 'containerLogMaxSize', fromFile.containerLogMaxSize);
  const maxFiles = pick('--container-log-max-files', 'containerLogMaxFiles', fromFile.containerLogMaxFiles);
  return { ...(maxSize ? { maxSize } : {}), ...(maxFiles ? { maxFiles } : {}) };
}

export function cniDirs(facts: HostFacts): { cniBinDir?: string; cniConfDir?: string } {
  const bin = effectiveFlag(facts, '--cni-bin-dir');
  const conf = effectiveFlag(facts, '--cni-conf-dir');
  return {
    ...(bin && bin !== '/opt/cni/bin' ? { cniBinDir: bin } : {}),
    ...(conf && conf !== '/etc/cni/net.d' ? { cniConfDir: conf } : {}),
  };
}

/**
 * Which playbook applies. Docker through cri-dockerd when the kubelet already talks CRI to a
 * cri-dockerd socket (the only way on 1.24+); the built-in dockershim otherwise.
 */
export function detectSourceRuntime(node: NodeView, facts: HostFacts): SourceRuntime {
  const endpoint =
    effectiveFlag(facts, '--container-runtime-endpoint') ??
    readKubeletConfig(facts.files.kubeletConfig.content, PATHS.kubeletConfig).containerRuntimeEndpoint;
  if (endpoint?.includes('cri-dockerd')) return 'cri-dockerd';
  if (atLeast(facts.kubeletVersion, 1, 24)) {
    if (endpoint === CONTAINERD_SOCKET) throw new Error(`${node.name}: the kubelet already uses containerd`);
    return 'cri-dockerd';
  }
  return 'dockershim';
}
