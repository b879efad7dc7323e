// `check`: what still depends on Docker. Nodes whose kubelet reports docker://; pods and the pod
// templates of workloads (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs:
// also those with no pod running now) that mount a Docker socket, Docker's data or its log files
// through a hostPath, with what breaks once their node runs containerd. Pure.
import type { NodeView } from '../domain/types.js';
import type { PodHostPaths, WorkloadHostPaths } from '../ports.js';
import { renderTable } from './table.js';

export const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/var/run/dockershim.sock', '/run/dockershim.sock', '/var/run/cri-dockerd.sock', '/run/cri-dockerd.sock'] as const;

const SOCKET_BREAKS = 'talks to Docker through its socket: there is no Docker after the switch (use the CRI: containerd\'s socket, crictl)';

/** What a hostPath gives a pod that the switch takes away, or undefined when it does not depend on Docker. */
export function dockerDependency(path: string): string | undefined {
  const p = normalize(path);
  if ((DOCKER_SOCKETS as readonly string[]).includes(p)) return SOCKET_BREAKS;
  if (p === '/var/run' || p === '/run') return `mounts ${p}, Docker's socket with it: ${SOCKET_BREAKS}`;
  if (p === '/var/lib/docker/containers' || p.startsWith('/var/lib/docker/containers/')) {
    return "reads Docker's JSON log files: after the switch containers log in the CRI format under /var/log/pods (and /var/log/containers), not here";
  }
  if (p === '/var/lib/docker' || p.startsWith('/var/lib/docker/')) return "reads Docker's data directory: nothing new is written there after the switch (containerd keeps its own under /var/lib/containerd)";
  return undefined;
}

export interface DockerNode {
  name: string;
  runtime: string;
  kubelet: string;
}

export interface PodDependency {
  namespace: string;
  pod: string;
  node: string;
  /** "Deployment/web", "DaemonSet/agent", "ReplicaSet/x", or "none". */
  owner: string;
  volume: string;
  path: string;
  breaks: string;
}

export interface WorkloadDependency {
  kind: string;
  namespace: string;
  name: string;
  volume: string;
  path: string;
  breaks: string;
}

export interface CheckReport {
  dockerNodes: DockerNode[];
  /** Running pods that mount a Docker path. */
  socketUsers: PodDependency[];
  /** Workloads whose pod template mounts one (running or not). */
  workloads: WorkloadDependency[];
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

export function checkCluster(nodes: readonly NodeView[], pods: readonly PodHostPaths[], workloads: readonly WorkloadHostPaths[] = []): CheckReport {
  const dockerNodes = nodes
    .filter((n) => n.containerRuntimeVersion.startsWith('docker://'))
    .map((n) => ({ name: n.name, runtime: n.containerRuntimeVersion, kubelet: n.kubeletVersion }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const socketUsers: PodDependency[] = [];
  for (const pod of pods) {
    for (const hp of pod.hostPaths) {
      const breaks = dockerDependency(hp.path);
      if (breaks) socketUsers.push({ namespace: pod.namespace, pod: pod.name, node: pod.nodeName, owner: workloadOwner(pod), volume: hp.volume, path: normalize(hp.path), breaks });
    }
  }
  const found: WorkloadDependency[] = [];
  for (const w of workloads) {
    for (const hp of w.hostPaths) {
      const breaks = dockerDependency(hp.path);
      if (breaks) found.push({ kind: w.kind, namespace: w.namespace, name: w.name, volume: hp.volume, path: normalize(hp.path), breaks });
    }
  }
  socketUsers.sort((a, b) => `${a.namespace}/${a.pod}`.localeCompare(`${b.namespace}/${b.pod}`));
  found.sort((a, b) => `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`));
  return { dockerNodes, socketUsers, workloads: found };
}

export function renderCheck(report: CheckReport): string {
  const out: string[] = [];
  if (report.dockerNodes.length === 0) out.push('No node runs Docker (docker://).');
  else {
    out.push(`Nodes still on Docker (${report.dockerNodes.length}):`);
    out.push(renderTable(['NAME', 'RUNTIME', 'KUBELET'], report.dockerNodes.map((n) => [n.name, n.runtime, n.kubelet])).trimEnd());
  }
  out.push('');
  if (report.workloads.length === 0) out.push("No workload's pod template mounts a Docker socket, Docker's data or its log files.");
  else {
    out.push(`Workloads whose pods depend on Docker (also those with no pod running now) (${report.workloads.length}):`);
    out.push(renderTable(['NAMESPACE', 'WORKLOAD', 'HOSTPATH', 'WHAT BREAKS'], report.workloads.map((w) => [w.namespace, `${w.kind}/${w.name}`, w.path, w.breaks])).trimEnd());
  }
  out.push('');
  if (report.socketUsers.length === 0) out.push("No running pod mounts a Docker socket, Docker's data or its log files.");
  else {
    out.push(`Running pods that depend on Docker (they break once their node runs containerd) (${report.socketUsers.length}):`);
    out.push(
      renderTable(
        ['NAMESPACE', 'POD', 'OWNER', 'NODE', 'HOSTPATH', 'WHAT BREAKS'],
        report.socketUsers.map((u) => [u.namespace, u.pod, u.owner, u.node || '-', u.path, u.breaks]),
      ).trimEnd(),
    );
  }
  if (report.workloads.length + report.socketUsers.length > 0) {
    out.push(
      '',
      'Move them off Docker before migrating their nodes: the CRI socket (/run/containerd/containerd.sock with crictl',
      'or the CRI API) instead of the Docker API, log agents reading /var/log/pods, images built without a daemon.',
      'Docker itself may also run containers outside Kubernetes on a node: plan NODE lists them (preflight).',
    );
  }
  return `${out.join('\n')}\n`;
}
