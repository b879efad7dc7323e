// Builds every Kubernetes adapter from one KubeConfig.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, KubeConfig, PolicyV1Api, Watch } from '@kubernetes/client-node';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../ports.js';
import { conciseApiErrors } from './convert.js';
import { KubeconfigError } from './errors.js';

export { KubeconfigError } from './errors.js';
import { KubePodEvictor } from './drain.js';
import { KubeEventRecorder } from './events.js';
import { KubeNodeWatch } from './informer.js';
import { LeaseLock } from './lease.js';
import { KubeNodeApi } from './nodes.js';
import { KubeSmokeTester } from './smoke.js';
import { KubeControlPlane } from './control-plane.js';
import { KubeRolloutStore } from './rollout.js';
import { KubeWorkloadLister } from './workloads.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function loadKubeConfig(options: { kubeconfig?: string; context?: string } = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new KubeconfigError(`cannot load the kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(err as Error).message}. Fix: check --kubeconfig/KUBECONFIG`);
  }
  if (options.context) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(options.context)) {
      throw new KubeconfigError(`--context ${options.context}: no such context in the kubeconfig (it has: ${names.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new KubeconfigError('the kubeconfig has no current cluster: pass --context or set current-context');
  return kc;
}

/** The namespace this process runs in: POD_NAMESPACE, the service account's, or "cri-migrator". */
export function ownNamespace(): string {
  if (process.env['POD_NAMESPACE']) return process.env['POD_NAMESPACE'];
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return 'cri-migrator'; // outside a cluster
  }
}

export function createKubeAdapters(kc: KubeConfig, config: Config, clock: Clock, log: Logger) {
  const core = conciseApiErrors(kc.makeApiClient(CoreV1Api));
  const coordination = conciseApiErrors(kc.makeApiClient(CoordinationV1Api));
  const policy = conciseApiErrors(kc.makeApiClient(PolicyV1Api));
  const watch = new Watch(kc);
  const identity = process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
  return {
    identity,
    nodes: new KubeNodeApi(core, watch, clock),
    evictor: new KubePodEvictor(core, policy, watch),
    events: new KubeEventRecorder(core, clock, log, identity),
    smoke: new KubeSmokeTester(core, watch, clock),
    workloads: new KubeWorkloadLister(core, kc),
    controlPlane: new KubeControlPlane(core, clock),
    rollout: new KubeRolloutStore(core, config.rollout.namespace || config.leaderElection.namespace || ownNamespace()),
    nodeWatch: new KubeNodeWatch(kc, core, log),
    lock: new LeaseLock(coordination, clock, {
      namespace: config.leaderElection.namespace || ownNamespace(),
      name: config.leaderElection.leaseName,
      identity,
      leaseDurationSeconds: config.leaderElection.leaseDurationSeconds,
    }),
  };
}
