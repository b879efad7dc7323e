// Output of engine/facts.ts's probe script, as a Docker node would print it.
import { PATHS } from '../../src/host/facts.js';

export interface HostSpec {
  kubelet?: string;
  containerd?: string | null;
  runc?: string;
  crictl?: string;
  freeKiB?: number;
  fsType?: string;
  xfsFtype?: string;
  overlay?: boolean;
  units?: string[];
  files?: Partial<Record<string, string | null>>;
  backups?: Partial<Record<string, string | null>>;
  /** The images probe (host/images.ts); default: a Docker node with a kube-proxy pod and a web pod. */
  images?: Partial<ImagesSpec>;
}

export interface ImagesSpec {
  dockerRunning: boolean;
  /** systemctl is-active docker.service, and is-system-running (default: active, running; inactive when not dockerRunning). */
  dockerState?: string;
  systemState?: string;
  /** id, Config.Image, image id, name, running, pod namespace, pod name */
  containers: string[][];
  /** id, tags, digests, size */
  images: [string, string[], string[], number][];
  staticPodImages: string[];
  inContainerd: string[];
  /** containerd's moby namespace (Docker's containerd image store). */
  inMoby: string[];
  recorded: string[] | null;
}

export const DEFAULT_IMAGES: ImagesSpec = {
  dockerRunning: true,
  containers: [
    ['c1', 'k8s.gcr.io/kube-proxy:v1.23.17', 'sha256:kp', '/k8s_kube-proxy_kube-proxy-x', 'true', 'kube-system', 'kube-proxy-x'],
    ['c2', 'k8s.gcr.io/pause:3.6', 'sha256:pause', '/k8s_POD_kube-proxy-x', 'true', 'kube-system', 'kube-proxy-x'],
    ['c3', 'busybox:1.36', 'sha256:bb', '/k8s_app_web-1', 'true', 'default', 'web-1'],
  ],
  images: [
    ['sha256:kp', ['k8s.gcr.io/kube-proxy:v1.23.17'], [], 110_000_000],
    ['sha256:pause', ['k8s.gcr.io/pause:3.6'], [], 680_000],
    ['sha256:bb', ['busybox:1.36'], [], 4_400_000],
  ],
  staticPodImages: [],
  inContainerd: [],
  inMoby: [],
  recorded: null,
};

/** The images probe's output (host/images.ts imagesScript). */
export function imagesOutput(spec: Partial<ImagesSpec> = {}): string {
  const s = { ...DEFAULT_IMAGES, ...spec };
  const M = '@@cri-migrator-images:';
  const out = [`${M}docker-running`, ...(s.dockerRunning ? ['yes'] : [])];
  out.push(`${M}docker-state`, s.dockerState ?? (s.dockerRunning ? 'active' : 'inactive'), `${M}system-state`, s.systemState ?? 'running');
  out.push(`${M}containers`, ...(s.dockerRunning ? s.containers.map((c) => c.join('\t')) : []));
  out.push(`${M}images`, ...(s.dockerRunning ? s.images.map(([id, tags, digests, size]) => [id, JSON.stringify(tags), JSON.stringify(digests), String(size)].join('\t')) : []));
  out.push(`${M}static`, ...s.staticPodImages, `${M}containerd`, ...s.inContainerd, `${M}moby`, ...s.inMoby, `${M}recorded`, ...(s.recorded ? ['present', ...s.recorded] : []), `${M}end`);
  return `${out.join('\n')}\n`;
}

export const DOCKERSHIM_FLAGS = 'KUBELET_KUBEADM_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6"\n';
export const KUBELET_CONFIG_SYSTEMD = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n';

export function factsOutput(spec: HostSpec = {}): string {
  const M = '@@cri-migrator:';
  const lines: string[] = [];
  const sec = (name: string, body: string) => lines.push(`${M}${name}`, ...(body ? [body] : []));
  sec('kubelet-version', spec.kubelet ?? 'Kubernetes v1.23.17');
  sec('containerd-version', spec.containerd === null ? '' : (spec.containerd ?? 'containerd containerd.io 1.6.20 2806fc1057397dbaeefbea0e4e17bddfbd388f38'));
  sec('bin-containerd', spec.containerd === null ? '' : '/usr/bin/containerd');
  sec('bin-runc', spec.runc ?? '/usr/bin/runc');
  sec('bin-crictl', spec.crictl ?? '/usr/bin/crictl');
  sec('bin-ctr', '/usr/bin/ctr');
  sec('bin-docker', '/usr/bin/docker');
  sec('os', 'Debian GNU/Linux 11 (bullseye)');
  sec('free-kib', String(spec.freeKiB ?? 20 * 1024 * 1024));
  sec('fs-type', spec.fsType ?? 'ext2/ext3');
  sec('xfs-ftype', spec.xfsFtype ?? '');
  sec('overlay', spec.overlay === false ? 'no' : 'yes');
  sec('units', (spec.units ?? ['docker.service', 'docker.socket', 'containerd.service', 'kubelet.service']).join('\n'));
  const files: Record<string, string | null> = {
    [PATHS.kubeadmFlags]: DOCKERSHIM_FLAGS,
    [PATHS.kubeletConfig]: KUBELET_CONFIG_SYSTEMD,
    [PATHS.containerdConfig]: 'disabled_plugins = ["cri"]\n',
    ...spec.files,
  };
  for (const path of Object.values(PATHS)) {
    const backup = spec.backups && path in spec.backups ? spec.backups[path] : undefined;
    if (backup !== undefined) {
      if (backup === null) lines.push(`${M}file ${path} absent backup`);
      else lines.push(`${M}file ${path} present backup`, Buffer.from(backup).toString('base64'));
      continue;
    }
    const content = files[path] ?? null;
    if (content === null) lines.push(`${M}file ${path} absent live`);
    else lines.push(`${M}file ${path} present live`, Buffer.from(content).toString('base64'));
  }
  lines.push(`${M}end`);
  return `${lines.join('\n')}\n${imagesOutput(spec.images)}`;
}
