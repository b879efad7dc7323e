// Shared by the chart tests (unit: helm template against manifests/; e2e: against kubectl
// kustomize, then helm install): the packaging tools, rendering, and what makes a chart object
// and a kustomize object comparable.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { CHART_DIR, CHART_ONLY_LABELS, CONFIG_CHECKSUM_ANNOTATION } from '../hack/chart-from-manifests.js';

export type Obj = Record<string, any>;

export const repoRoot = fileURLToPath(new URL('../', import.meta.url));
export const chartDir = `${repoRoot}${CHART_DIR}`;

/**
 * The path of a tool hack/build-pkg-tools.sh built (helm, krew, validate-krew-manifest), or
 * undefined when it is not built yet: tests that need it are skipped then (`make test` builds them).
 */
export function packagingTool(name: string): string | undefined {
  const r = spawnSync('bash', [`${repoRoot}hack/build-pkg-tools.sh`, '--cached', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Kubernetes reads YAML 1.1: `defaultMode: 0440` is octal. */
export function parseObjects(text: string): Obj[] {
  return YAML.parseAllDocuments(text, { version: '1.1' })
    .map((d) => {
      if (d.errors.length) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS() as Obj | null;
    })
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

export function helmTemplate(helm: string, release: string, namespace: string, ...args: string[]): Obj[] {
  return parseObjects(execFileSync(helm, ['template', release, chartDir, '--namespace', namespace, ...args], { encoding: 'utf8' }));
}

/** manifests/ as `kubectl apply -k` would create it, without kustomize: see kustomizeLike's checks. */
export function kustomizeLike(): Obj[] {
  const read = (f: string) => readFileSync(`${repoRoot}manifests/${f}`, 'utf8');
  const k = parseObjects(read('kustomization.yaml'))[0]!;
  const objects = (k.resources as string[]).flatMap((f) => parseObjects(read(f)));
  for (const o of objects) {
    // kustomize's namespace transformer: the manifests spell the namespace out, so it changes nothing.
    if (o.metadata.namespace !== undefined && o.metadata.namespace !== k.namespace) throw new Error(`${o.kind} ${o.metadata.name}: namespace ${o.metadata.namespace}, not ${k.namespace}`);
    for (const c of o.spec?.template?.spec?.containers ?? []) {
      const image = (k.images as Obj[]).find((i) => i.name === c.image);
      if (image) c.image = `${image.newName ?? image.name}:${image.newTag}`;
    }
  }
  for (const g of k.configMapGenerator as Obj[]) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: g.name, namespace: k.namespace },
      data: Object.fromEntries((g.files as string[]).map((f) => [f, read(f)])),
    });
  }
  return objects;
}

/** kustomize's configMapGenerator appends a content hash to the name: cri-migrator-config-5f8c2t9k4b. */
const withoutHash = (name: string) => name.replace(/-[a-z0-9]{10}$/, '');

/**
 * "Kind/name" -> object, with what legitimately differs between chart and kustomize taken out:
 * the chart's own metadata labels and config checksum, kustomize's ConfigMap name hash, and the
 * ConfigMaps' labels; the config files are parsed (the chart writes them with toYaml).
 */
export function comparable(objects: Obj[]): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  for (const original of objects) {
    const o = structuredClone(original);
    for (const label of CHART_ONLY_LABELS) delete o.metadata.labels?.[label];
    const template = o.spec?.template;
    if (template?.metadata?.annotations) {
      delete template.metadata.annotations[CONFIG_CHECKSUM_ANNOTATION];
      if (Object.keys(template.metadata.annotations).length === 0) delete template.metadata.annotations;
    }
    for (const v of template?.spec?.volumes ?? []) if (v.configMap) v.configMap.name = withoutHash(v.configMap.name);
    if (o.kind === 'ConfigMap') {
      o.metadata = { name: withoutHash(o.metadata.name), namespace: o.metadata.namespace };
      o.data = Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, YAML.parse(v)]));
    }
    out[`${o.kind}/${o.metadata.name}`] = o;
  }
  return out;
}

/** "apiGroup/resource:verb" for each rule of a Role or ClusterRole, sorted. */
export function ruleList(role: Obj | undefined): string[] {
  return ((role?.rules ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}`))))
    .sort();
}
