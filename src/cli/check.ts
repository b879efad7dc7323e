// `check`: what still depends on Docker. Nodes whose kubelet reports docker://, and pods that mount
// a Docker (or dockershim/cri-dockerd) socket through a hostPath: they lose it once their node runs
// containerd (docker-in-docker builds, log and monitoring agents, CI runners). Pure.
import type { NodeView } from '../domain/types.js';
import type { PodHostPaths } from '../ports.js';
import { renderTable } from './table.js';

export const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/var/run/dockershim.sock', '/run/dockershim.sock', '/var/run/cri-dockerd.sock', '/run/cri-dockerd.sock'] as const;
/** Mounting the whole directory exposes the sockets too. */
const SOCKET_DIRS = ['/var/run', '/run'] as const;

export interface DockerNode {
  name: string;
  runtime: string;
  kubelet: string;
}

export interface SocketUser {
  namespace: string;
  pod: string;
  node: string;
  /** "Deployment/web", "DaemonSet/agent", "ReplicaSet/x", or "none". */
  owner: string;
  volume: string;
  path: string;
}

export interface CheckReport {
  dockerNodes: DockerNode[];
  socketUsers: SocketUser[];
}

function normalize(path: string): string {
  const trimmed = path.replace(/\/+$/, '').replace(/\/+/g, '/');
  return trimmed === '' ? '/' : trimmed;
}

/** The owner a human manages: a ReplicaSet made by a Deployment is shown as the Deployment. */
export function workloadOwner(pod: Pick<PodHostPaths, 'owner' | 'labels'>): string {
  const owner = pod.owner;
  if (!owner) return 'none';
  const hash = pod.labels['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
    return `Deployment/${owner.name.slice(0, -hash.length - 1)}`;
  }
  return `${owner.kind}/${owner.name}`;
}

export function checkCluster(nodes: readonly NodeView[], pods: readonly PodHostPaths[]): CheckReport {
  const dockerNodes = nodes
    .filter((n) => n.containerRuntimeVersion.startsWith('docker://'))
    .map((n) => ({ name: n.name, runtime: n.containerRuntimeVersion, kubelet: n.kubeletVersion }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const sockets = new Set<string>([...DOCKER_SOCKETS, ...SOCKET_DIRS]);
  const socketUsers: SocketUser[] = [];
  for (const pod of pods) {
    for (const hp of pod.hostPaths) {
      const path = normalize(hp.path);
      if (!sockets.has(path)) continue;
      socketUsers.push({ namespace: pod.namespace, pod: pod.name, node: pod.nodeName, owner: workloadOwner(pod), volume: hp.volume, path });
    }
  }
  socketUsers.sort((a, b) => `${a.namespace}/${a.pod}`.localeCompare(`${b.namespace}/${b.pod}`));
  return { dockerNodes, socketUsers };
}

export function renderCheck(report: CheckReport): string {
  const out: string[] = [];
  if (report.dockerNodes.length === 0) out.push('No node runs Docker (docker://).');
  else {
    out.push(`Nodes still on Docker (${report.dockerNodes.length}):`);
    out.push(renderTable(['NAME', 'RUNTIME', 'KUBELET'], report.dockerNodes.map((n) => [n.name, n.runtime, n.kubelet])).trimEnd());
  }
  out.push('');
  if (report.socketUsers.length === 0) out.push('No pod mounts a Docker socket through a hostPath.');
  else {
    out.push(`Pods that mount a Docker socket (they break once their node runs containerd) (${report.socketUsers.length}):`);
    out.push(
      renderTable(
        ['NAMESPACE', 'POD', 'OWNER', 'NODE', 'HOSTPATH'],
        report.socketUsers.map((u) => [u.namespace, u.pod, u.owner, u.node || '-', u.path]),
      ).trimEnd(),
    );
    out.push(
      '',
      'Move them off the Docker API before migrating their nodes: e.g. to the CRI socket',
      '(/run/containerd/containerd.sock with crictl or the CRI API), or build images without a daemon.',
    );
  }
  return `${out.join('\n')}\n`;
}
