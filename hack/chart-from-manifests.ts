// The Helm chart charts/cri-migrator, generated from manifests/ (the one source of truth):
// `npm run chart:sync` writes it, test/unit/chart.test.ts fails when it is stale.
//
// Every object of manifests/kustomization.yaml's resources (and its configMapGenerator) becomes a
// template with the same content, except:
// - names: `cri-migrator` and `cri-migrator-*` of objects defined here become the release's
//   fullname (the same names for `helm install cri-migrator`), also where they are referenced
//   (roleRef, subjects, serviceAccountName, configMap volumes); namespaces become the release's;
// - metadata labels gain Helm's (chart, instance, version, managed-by); selectors and pod
//   labels stay as they are;
// - the Namespace is rendered only with namespace.create=true;
// - the Deployment takes image, replicas, resources, nodeSelector, tolerations, affinity and the
//   SSH Secret's name from values (their defaults are the manifests' values), and a checksum of
//   the config (kustomize renames the ConfigMap instead) so a config change rolls the pods;
// - the config is values.config, defaulting to manifests/config.yaml, with smoke.namespace set
//   to the release's namespace (where the Role lets the smoke pod be created).
// A new manifest file, a changed RBAC rule or Deployment field is carried over by the next sync.
import { readFileSync } from 'node:fs';
import YAML, { isMap, isScalar, isSeq, Pair, Scalar, YAMLMap, type Document } from 'yaml';

export const CHART_DIR = 'charts/cri-migrator';
const PREFIX = 'cri-migrator';
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by'];
/** Labels the chart adds to every object's metadata (tests strip them to compare with manifests/). */
export const CHART_ONLY_LABELS: readonly string[] = HELM_LABELS;
/** The pod template annotation the chart adds (kustomize renames the ConfigMap instead). */
export const CONFIG_CHECKSUM_ANNOTATION = 'checksum/config';

export const generatedHeader = (source: string) =>
  `# GENERATED from ${source} by \`npm run chart:sync\` (hack/chart-from-manifests.ts): edit the source, not this file.\n`;

type Obj = Record<string, any>;

/** Placeholders put into the YAML tree, replaced by template text after stringifying. */
class Placeholders {
  private readonly inline = new Map<string, string>();
  private readonly blocks = new Map<string, { expr: string; optional: boolean }>();
  private readonly includes = new Map<string, string>();
  private n = 0;
  private token(kind: string) {
    return `__HELM_${kind}_${this.n++}__`;
  }
  /** A scalar rendered by a template expression, e.g. `{{ .Release.Namespace }}`. */
  value(expr: string): Scalar {
    const t = this.token('VALUE');
    this.inline.set(t, expr);
    return new Scalar(t);
  }
  /** A block value `toYaml EXPR`; optional ones (`with`) leave the key out when EXPR is empty. */
  block(expr: string, optional = false): Scalar {
    const t = this.token('BLOCK');
    this.blocks.set(t, { expr, optional });
    return new Scalar(t);
  }
  /** A key whose line becomes `{{- include NAME . | nindent N }}` (more keys of the same map). */
  include(name: string): string {
    const t = this.token('INCLUDE');
    this.includes.set(t, name);
    return t;
  }
  render(text: string): string {
    const out: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^(\s*)(- )?([^\s:]+): (__HELM_(?:BLOCK|INCLUDE)_\d+__)$/.exec(line) ?? /^(\s*)(- )?(__HELM_INCLUDE_\d+__): null$/.exec(line);
      if (m && this.includes.has(m[3]!)) {
        const col = m[1]!.length + (m[2] ? 2 : 0);
        if (m[2]) throw new Error(`an include cannot start a list item: ${line}`);
        out.push(`{{- include "${this.includes.get(m[3]!)}" . | nindent ${col} }}`);
        continue;
      }
      const block = m ? this.blocks.get(m[4]!) : undefined;
      if (m && block) {
        const [, indent, dash = '', key] = m;
        const col = indent!.length + dash.length + 2;
        if (block.optional) {
          if (dash) throw new Error(`an optional block cannot start a list item: ${line}`);
          out.push(`{{- with ${block.expr} }}`, `${indent}${key}:`, `{{- toYaml . | nindent ${col} }}`, '{{- end }}');
        } else {
          out.push(`${indent}${dash}${key}:`, `{{- toYaml ${block.expr} | nindent ${col} }}`);
        }
        continue;
      }
      out.push(line.replace(/__HELM_VALUE_\d+__/g, (t) => this.inline.get(t) ?? t));
    }
    const left = /__HELM_\w+?_\d+__/.exec(out.join('\n'));
    if (left) throw new Error(`placeholder ${left[0]} was not replaced (hack/chart-from-manifests.ts)`);
    return out.join('\n');
  }
}

function map(node: unknown, path: string): YAMLMap {
  if (!isMap(node)) throw new Error(`${path}: expected a mapping`);
  return node;
}

/** Sets `key` in `m`, before `before` when that key is there (keeps the output readable). */
function setBefore(m: YAMLMap, key: string, value: unknown, before: string): void {
  if (m.has(key)) return void m.set(key, value);
  const at = m.items.findIndex((p) => isScalar(p.key) && p.key.value === before);
  const pair = new Pair(new Scalar(key), value);
  if (at < 0) m.items.push(pair);
  else m.items.splice(at, 0, pair);
}

export interface ChartSource {
  packageJson: Obj;
  kustomization: Obj;
  /** manifests/FILE -> text, for every resource and generated ConfigMap file. */
  files: Record<string, string>;
}

export function readChartSource(root: URL): ChartSource {
  const read = (p: string) => readFileSync(new URL(p, root), 'utf8');
  const kustomization = YAML.parse(read('manifests/kustomization.yaml')) as Obj;
  const names = [
    ...(kustomization.resources as string[]),
    ...((kustomization.configMapGenerator ?? []) as Obj[]).flatMap((g) => g.files as string[]),
  ];
  return {
    packageJson: JSON.parse(read('package.json')) as Obj,
    kustomization,
    files: Object.fromEntries(names.map((f) => [f, read(`manifests/${f}`)])),
  };
}

/** Path under charts/cri-migrator -> file text. */
export function chartFiles(src: ChartSource): Map<string, string> {
  const k = src.kustomization;
  if (k.namePrefix || k.nameSuffix || k.patches || k.patchesStrategicMerge || k.replacements || k.components) {
    throw new Error('manifests/kustomization.yaml uses a kustomize feature hack/chart-from-manifests.ts does not carry over: extend it');
  }
  const docs = Object.fromEntries(
    (k.resources as string[]).map((f) => {
      // YAML 1.1 as Kubernetes reads it: `defaultMode: 0440` is octal, and stays written so.
      const parsed = YAML.parseAllDocuments(src.files[f]!, { version: '1.1' });
      for (const d of parsed) if (d.errors.length) throw new Error(`manifests/${f}: ${d.errors[0]!.message}`);
      return [f, parsed as Document.Parsed[]];
    }),
  );
  const generators = (k.configMapGenerator ?? []) as { name: string; files: string[] }[];
  // Names the chart owns: objects defined in manifests/ and the generated ConfigMaps.
  const owned = new Set<string>([
    ...Object.values(docs).flatMap((ds) => ds.map((d) => String(d.getIn(['metadata', 'name'])))),
    ...generators.map((g) => g.name),
  ]);
  const nameExpr = (name: string) => {
    if (name === PREFIX) return '{{ include "cri-migrator.fullname" . }}';
    if (name.startsWith(`${PREFIX}-`)) return `{{ include "cri-migrator.fullname" . }}${name.slice(PREFIX.length)}`;
    throw new Error(`object name ${name} does not start with ${PREFIX}: the chart cannot name it after the release`);
  };

  const deployments = Object.values(docs).flat().filter((d) => d.get('kind') === 'Deployment');
  if (deployments.length !== 1) throw new Error(`manifests/ should hold one Deployment, not ${deployments.length}`);
  const deployment = deployments[0]!.toJS() as Obj;
  const pod = deployment.spec.template.spec as Obj;
  const container = pod.containers[0] as Obj;
  const image = ((k.images ?? []) as Obj[]).find((i) => i.name === container.image);
  if (!image) throw new Error(`manifests/kustomization.yaml: no images entry for ${container.image}`);
  const sshVolume = (pod.volumes as Obj[]).find((v) => v.secret)!;
  const configGenerator = generators[0];
  if (generators.length !== 1 || configGenerator!.files.length !== 1) throw new Error('expected one configMapGenerator with one file (the config)');
  const configFile = configGenerator!.files[0]!;

  const out = new Map<string, string>();
  const templates = new Map<string, string[]>();

  for (const [file, fileDocs] of Object.entries(docs)) {
    for (const doc of fileDocs) {
      const ph = new Placeholders();
      const kind = String(doc.get('kind'));
      const meta = map(doc.get('metadata'), `${file} metadata`);
      if (kind === 'Namespace') meta.set('name', ph.value('{{ .Release.Namespace }}'));
      else meta.set('name', ph.value(nameExpr(String(meta.get('name')))));
      if (meta.has('namespace')) meta.set('namespace', ph.value('{{ .Release.Namespace }}'));
      if (!isMap(meta.get('labels'))) meta.set('labels', new YAMLMap());
      map(meta.get('labels'), `${file} labels`).set(ph.include('cri-migrator.labels'), null);

      const ref = (v: unknown) => (owned.has(String(v)) ? ph.value(nameExpr(String(v))) : v);
      if (kind === 'ClusterRoleBinding' || kind === 'RoleBinding') {
        doc.setIn(['roleRef', 'name'], ref(doc.getIn(['roleRef', 'name'])));
        const subjects = doc.get('subjects');
        if (isSeq(subjects)) {
          for (const s of subjects.items) {
            const sm = map(s, `${file} subject`);
            sm.set('name', ref(sm.get('name')));
            if (sm.has('namespace')) sm.set('namespace', ph.value('{{ .Release.Namespace }}'));
          }
        }
      }
      if (kind === 'Deployment') {
        doc.setIn(['spec', 'replicas'], ph.value('{{ .Values.replicas }}'));
        const tmeta = map(doc.getIn(['spec', 'template', 'metadata']), 'pod template metadata');
        // The manifest's own pod annotations (safe-to-evict) stay; the config checksum is added.
        const annotations = tmeta.has('annotations') ? map(tmeta.get('annotations'), 'pod template annotations') : new YAMLMap();
        annotations.set(CONFIG_CHECKSUM_ANNOTATION, ph.value('{{ include "cri-migrator.config" . | sha256sum }}'));
        tmeta.set('annotations', annotations);
        const spec = map(doc.getIn(['spec', 'template', 'spec']), 'pod spec');
        spec.set('serviceAccountName', ref(spec.get('serviceAccountName')));
        setBefore(spec, 'nodeSelector', ph.block('.Values.nodeSelector', true), 'tolerations');
        setBefore(spec, 'tolerations', ph.block('.Values.tolerations', true), 'affinity');
        setBefore(spec, 'affinity', ph.block('.Values.affinity', true), 'containers');
        const c = map(doc.getIn(['spec', 'template', 'spec', 'containers', 0]), 'container');
        c.set('image', ph.value('"{{ .Values.image.repository }}:{{ .Values.image.tag }}"'));
        c.set('imagePullPolicy', ph.value('{{ .Values.image.pullPolicy }}'));
        c.set('resources', ph.block('.Values.resources'));
        const volumes = spec.get('volumes');
        if (isSeq(volumes)) {
          for (const v of volumes.items) {
            const vm = map(v, 'volume');
            if (vm.has('configMap')) map(vm.get('configMap'), 'configMap').set('name', ref(vm.getIn(['configMap', 'name'])));
            if (vm.has('secret')) map(vm.get('secret'), 'secret').set('secretName', ph.value('{{ .Values.ssh.secretName }}'));
          }
        }
      }
      let text = ph.render(doc.toString({ lineWidth: 0, flowCollectionPadding: false }).replace(/^---\n/, '').trimEnd());
      if (kind === 'Namespace') text = `{{- if .Values.namespace.create }}\n${text}\n{{- end }}`;
      templates.set(file, [...(templates.get(file) ?? []), text]);
    }
  }
  for (const [file, texts] of templates) {
    // A document that renders to nothing (the Namespace by default) is fine between separators.
    out.set(`templates/${file}`, `${generatedHeader(`manifests/${file}`)}${texts.join('\n---\n')}\n`);
  }

  const configMap = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${nameExpr(configGenerator!.name)}`,
    '  namespace: {{ .Release.Namespace }}',
    '  labels:',
    `    app.kubernetes.io/name: ${PREFIX}`,
    '{{- include "cri-migrator.labels" . | nindent 4 }}',
    'data:',
    `  ${configFile}: |`,
    '{{- include "cri-migrator.config" . | nindent 4 }}',
  ].join('\n');
  out.set('templates/configmap.yaml', `${generatedHeader(`manifests/${configFile} (configMapGenerator ${configGenerator!.name})`)}${configMap}\n`);

  const pkg = src.packageJson;
  const chart = {
    apiVersion: 'v2',
    name: PREFIX,
    description: pkg.description,
    type: 'application',
    version: pkg.version,
    appVersion: pkg.version,
    kubeVersion: '>=1.23.0-0',
    keywords: ['containerd', 'docker', 'dockershim', 'cri-dockerd', 'migration', 'operator'],
  };
  out.set('Chart.yaml', `${generatedHeader('package.json')}${YAML.stringify(chart, { lineWidth: 0 })}`);

  const block = (value: unknown) => YAML.stringify(value, { lineWidth: 0 }).trimEnd();
  const indent = (text: string) => text.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
  const keyed = (key: string, value: unknown) => {
    const empty = value === undefined || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
    if (empty) return `${key}: ${Array.isArray(value) ? '[]' : '{}'}`;
    return `${key}:\n${indent(block(value))}`;
  };
  // The config file without its leading comment (about kustomize), its other comments kept.
  const configText = src.files[configFile]!.replace(/^(#.*\n)+/, '');
  const values = [
    generatedHeader('manifests/ (deployment.yaml, kustomization.yaml, config.yaml)').trimEnd(),
    '# The defaults render what `kubectl apply -k manifests` creates (for the release name cri-migrator).',
    '',
    '# Render a Namespace named after the release namespace, labelled for Pod Security "baseline"',
    '# (for `helm template | kubectl apply` and GitOps; with `helm install`, create the namespace first).',
    'namespace:',
    '  create: false',
    '',
    '# Object names: the release name when it contains "cri-migrator", else RELEASE-cri-migrator.',
    'fullnameOverride: ""',
    '',
    'image:',
    `  repository: ${image.newName ?? image.name}`,
    `  tag: ${JSON.stringify(String(image.newTag ?? 'latest'))}`,
    `  pullPolicy: ${container.imagePullPolicy ?? 'IfNotPresent'}`,
    '',
    '# One leader (Lease), the others stand by.',
    `replicas: ${deployment.spec.replicas}`,
    '',
    '# The Secret with the SSH private key (id_ed25519) and the nodes\' host keys (known_hosts):',
    '#   kubectl -n NAMESPACE create secret generic cri-migrator-ssh \\',
    '#     --from-file=id_ed25519=PATH/TO/KEY --from-file=known_hosts=PATH/TO/known_hosts',
    'ssh:',
    `  secretName: ${sshVolume.secret.secretName}`,
    '',
    keyed('resources', container.resources),
    '',
    keyed('nodeSelector', pod.nodeSelector ?? {}),
    '',
    '# Prefer the control plane (never migrated by default) and separate replicas.',
    keyed('tolerations', pod.tolerations ?? []),
    '',
    keyed('affinity', pod.affinity ?? {}),
    '',
    '# The cri-migrator configuration: every field is in the README ("Configuration").',
    '# smoke.namespace is always the release namespace (where the Role allows the smoke pod), and',
    '# metricsPort must stay the container port the probes and the Service use (8080).',
    `config:\n${indent(configText.trimEnd())}`,
    '',
  ].join('\n');
  out.set('values.yaml', values);
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}
