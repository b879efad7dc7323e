// The deployment manifests agree with the code: the config they ship is valid, the smoke pod's
// namespace is where the Role lets it be created, and the RBAC grants exactly what src/kube uses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../src/config.js';

const dir = new URL('../../manifests/', import.meta.url);
const docs = (file: string) => YAML.parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map((d) => d.toJS() as Record<string, any>);

describe('manifests', () => {
  const kustomization = docs('kustomization.yaml')[0]!;
  const config = loadConfig({ file: { path: 'manifests/config.yaml', data: docs('config.yaml')[0] } });
  const rbac = docs('rbac.yaml');
  const deployment = docs('deployment.yaml')[0]!;

  it('ships a valid config whose smoke pod namespace is the Role\'s', () => {
    const role = rbac.find((d) => d.kind === 'Role')!;
    expect(config.smoke.namespace).toBe(role.metadata.namespace);
    expect(kustomization.namespace).toBe(role.metadata.namespace);
    expect(config.ssh.privateKeyPath.startsWith('/etc/cri-migrator/ssh/')).toBe(true);
  });

  it('grants exactly the API calls of src/kube', () => {
    const rules = (kind: string) =>
      rbac
        .find((d) => d.kind === kind)!
        .rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
          r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}`))),
        )
        .sort();
    expect(rules('ClusterRole')).toEqual(
      ['core/events:create', 'core/events:patch', 'core/nodes:get', 'core/nodes:list', 'core/nodes:patch', 'core/nodes:watch', 'core/pods/eviction:create', 'core/pods:get', 'core/pods:list', 'core/pods:watch', 'policy/poddisruptionbudgets:get'].sort(),
    );
    expect(rules('Role')).toEqual(
      ['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update', 'core/configmaps:get', 'core/events:list', 'core/pods:create', 'core/pods:delete', 'core/pods:get', 'core/pods:watch'].sort(),
    );
  });

  it('runs two non-root replicas from the config and the SSH Secret, probing the health endpoints', () => {
    const spec = deployment.spec;
    const pod = spec.template.spec;
    const container = pod.containers[0];
    expect(spec.replicas).toBe(2);
    // Service links would inject CRI_MIGRATOR_METRICS_PORT=tcp://..., read as config.
    expect(pod.enableServiceLinks).toBe(false);
    // Steps in flight get shutdownGraceSeconds, then are cancelled and the Lease released, within the grace period.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(config.shutdownGraceSeconds + 5);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.args).toEqual(['run', '--config', '/etc/cri-migrator/config/config.yaml']);
    expect(container.ports[0].containerPort).toBe(config.metricsPort);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(pod.volumes.find((v: any) => v.name === 'ssh').secret.secretName).toBe('cri-migrator-ssh');
    expect(pod.volumes.find((v: any) => v.name === 'config').configMap.name).toBe(kustomization.configMapGenerator[0].name);
    expect(kustomization.images[0].name).toBe(container.image);
  });
});
