// A small cluster of fakes for the CLI commands: worker w1 on Docker (dockershim, kubelet 1.23)
// whose kubelet comes back on containerd when restarted, two Ready peers, pods with a PDB.
import { loadConfig, type Config } from '../../src/config.js';
import type { CliContext } from '../../src/cli/commands.js';
import { KUBEADM_CRI_SOCKET_ANNOTATION } from '../../src/domain/annotations.js';
import type { NodeView } from '../../src/domain/types.js';
import type { EngineDeps } from '../../src/engine/executor.js';
import type { PodHostPaths, WorkloadHostPaths } from '../../src/ports.js';
import { DOCKERSHIM_FLAGS, factsOutput, KUBELET_CONFIG_SYSTEMD, type HostSpec } from './facts-fixture.js';
import { PATHS } from '../../src/host/facts.js';
import { fakeEngine, FakeClock, FakeEvents, FakeSmoke, FakeEvictor, FakeNodeApi, FakeRemote, makeNode, makePod } from './fakes.js';

export interface CliWorld {
  ctx: CliContext;
  engine: ReturnType<typeof fakeEngine>;
  nodes: FakeNodeApi;
  evictor: FakeEvictor;
  remote: FakeRemote;
  events: FakeEvents;
  smoke: FakeSmoke;
  stdout: string[];
  stderr: string[];
  progress: string[];
}

export function cliWorld(options: { config?: Config; w1?: Partial<NodeView>; host?: HostSpec; pods?: PodHostPaths[]; workloads?: WorkloadHostPaths[] } = {}): CliWorld {
  const config = options.config ?? loadConfig({});
  const clock = new FakeClock();
  const w1 = makeNode({ annotations: { [KUBEADM_CRI_SOCKET_ANNOTATION]: '/var/run/dockershim.sock' }, ...options.w1 });
  const nodes = new FakeNodeApi(
    clock,
    w1,
    makeNode({ name: 'w2', labels: {} }),
    makeNode({ name: 'cp', labels: { 'node-role.kubernetes.io/control-plane': '' }, containerRuntimeVersion: 'containerd://1.6.20' }),
  );
  const evictor = new FakeEvictor([
    makePod('web-1', { controllers: [{ kind: 'ReplicaSet', name: 'web-5d8f' }] }),
    makePod('web-2', { controllers: [{ kind: 'ReplicaSet', name: 'web-5d8f' }] }),
    makePod('kube-proxy-x', { namespace: 'kube-system', controllers: [{ kind: 'DaemonSet', name: 'kube-proxy' }] }),
    makePod('kube-apiserver-w1', { namespace: 'kube-system', mirror: true, controllers: [{ kind: 'Node', name: 'w1' }] }),
  ]);
  const remote = new FakeRemote([
    (cmd) => (cmd.includes('@@cri-migrator:') ? { code: 0, stdout: factsOutput(options.host), stderr: '' } : undefined),
    (cmd, o) => (!o.mutates && /^(test -[df] |systemctl cat )/.test(cmd) ? { code: 0, stdout: '', stderr: '' } : undefined),
    (cmd, o) => {
      if (o.mutates && cmd.includes('systemctl restart kubelet.service')) {
        nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'containerd://1.6.20' }));
      }
      if (o.mutates && cmd.includes('systemctl stop kubelet.service')) nodes.update('w1', (n) => ({ ...n, ready: false }));
      if (o.mutates && cmd.startsWith('systemctl start kubelet.service')) {
        nodes.update('w1', (n) => ({ ...n, ready: true, containerRuntimeVersion: 'docker://20.10.24' }));
      }
      return undefined;
    },
  ]);
  // What the facts fixture reports, also readable as files (the dry run diffs against them).
  remote.files.set(PATHS.kubeadmFlags, { content: DOCKERSHIM_FLAGS, mode: 0o644 });
  remote.files.set(PATHS.kubeletConfig, { content: KUBELET_CONFIG_SYSTEMD, mode: 0o644 });
  remote.files.set(PATHS.containerdConfig, { content: 'disabled_plugins = ["cri"]\n', mode: 0o644 });
  const engine = fakeEngine({ config, nodes, evictor, clock, connect: async () => remote });
  const { events, smoke } = engine;
  const stdout: string[] = [];
  const stderr: string[] = [];
  const progress: string[] = [];
  const pods = options.pods ?? [];
  const workloads = options.workloads ?? [];
  const ctx: CliContext = {
    engine,
    workloads: { listPodHostPaths: async () => pods, listWorkloadHostPaths: async () => workloads },
    stdout: (t) => stdout.push(t),
    stderr: (t) => stderr.push(t),
    progress: (t) => progress.push(t),
  };
  return { ctx, engine, nodes, evictor, remote, events, smoke, stdout, stderr, progress };
}
