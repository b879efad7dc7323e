import { describe, expect, it } from 'vitest';
import { migrateCommand, planCommand, planNode } from '../../src/cli/commands.js';
import { renderPlanJson, renderPlanText, type NodePlan } from '../../src/cli/plan.js';
import { loadConfig } from '../../src/config.js';
import { ANNOTATIONS, KUBEADM_CRI_SOCKET_ANNOTATION, MIGRATED_LABEL } from '../../src/domain/annotations.js';
import { cliWorld } from './cli-world.js';

describe('cli: plan (migrate --dry-run)', () => {
  it('changes nothing: no patch, no event, no eviction, no mutating command, no file written', async () => {
    const w = cliWorld({ w1: { labels: {} } });
    w.evictor.blockedFor.set('web-2', Infinity);
    const nodeBefore = structuredClone(w.nodes.nodes.get('w1'));
    const filesBefore = structuredClone(w.remote.files);
    const code = await planCommand(w.ctx, ['w1'], { output: 'text', retry: false });
    expect(code).toBe(0);
    expect(w.nodes.patches).toEqual([]);
    expect(w.nodes.nodes.get('w1')).toEqual(nodeBefore);
    expect(w.events.events).toEqual([]);
    expect(w.smoke.runs).toEqual([]);
    expect(w.evictor.pods).toHaveLength(4);
    expect(w.evictor.evictions.length).toBeGreaterThan(0);
    expect(w.evictor.evictions.every((e) => e.dryRun)).toBe(true);
    expect(w.remote.commands.filter((c) => c.mutates)).toEqual([]);
    expect(w.remote.files).toEqual(filesBefore);
  });

  it('lists pods to evict, skip and block (with the PDB), preflight verdicts, commands in order, diffs and the node patch', async () => {
    const w = cliWorld({ w1: { labels: {} } });
    w.evictor.blockedFor.set('web-2', Infinity);
    const plan = await planNode(w.ctx, 'w1', false);

    expect(plan).toMatchObject({ node: 'w1', ok: true, summary: 'would reach Succeeded (containerd)', runtime: 'docker://20.10.24' });
    expect(plan.preparation).toEqual(['label the node cri-migrator.dev/migrate=containerd (it lacks the selector "cri-migrator.dev/migrate=containerd")']);
    expect(plan.pods.evict.map((p) => `${p.pod} ${p.owner}`)).toEqual(['default/web-1 ReplicaSet/web-5d8f', 'default/web-2 ReplicaSet/web-5d8f']);
    expect(plan.pods.skip.map((p) => p.pod)).toEqual(['kube-system/kube-proxy-x', 'kube-system/kube-apiserver-w1']);
    expect(plan.pods.skip[0]!.reason).toMatch(/DaemonSet/);
    expect(plan.pods.skip[1]!.reason).toMatch(/mirror pod/);
    expect(plan.pods.blocking).toEqual([{ pod: 'default/web-2', budget: 'web-2-pdb', reason: expect.stringContaining('disruption budget') }]);

    expect(plan.preflight.length).toBeGreaterThan(5);
    expect(plan.preflight.every((c) => c.ok)).toBe(true);
    expect(plan.preflight.map((c) => c.name)).toContain('runc-on-path');

    expect(plan.steps.map((s) => s.action)).toEqual(['preflight', 'cordon', 'drain', 'configureRuntime', 'switchKubelet', 'verify', 'uncordon', 'finish']);
    const commands = plan.steps.flatMap((s) => s.changes.flatMap((c) => (c.kind === 'command' ? [c.command] : [])));
    const at = (text: string) => commands.findIndex((c) => c.includes(text));
    expect(at('systemctl stop kubelet.service')).toBeGreaterThanOrEqual(0);
    expect(at('systemctl stop kubelet.service')).toBeLessThan(at('systemctl restart containerd.service'));
    expect(at('systemctl restart containerd.service')).toBeLessThan(at('systemctl restart kubelet.service'));
    const api = (action: string) => plan.steps.find((s) => s.action === action)!.changes.filter((c) => c.kind === 'api').map((c) => c.kind === 'api' && c.description);
    expect(api('cordon')).toEqual(['cordon the node (spec.unschedulable=true)']);
    expect(api('drain')).toEqual(['evict default/web-1', expect.stringMatching(/^evict default\/web-2: BLOCKED by PodDisruptionBudget web-2-pdb/)]);
    expect(api('switchKubelet')).toEqual([`annotate ${KUBEADM_CRI_SOCKET_ANNOTATION}=unix:///run/containerd/containerd.sock`]);
    expect(api('verify')).toEqual(['wait until the node is Ready with a containerd:// runtime', 'run a smoke pod on the node (image k8s.gcr.io/pause:3.6) and wait for Running']);
    expect(api('uncordon')).toEqual(['uncordon the node (spec.unschedulable=false)']);
    expect(api('finish')).toEqual([`label ${MIGRATED_LABEL}=containerd`]);

    const config = plan.files.find((f) => f.path === '/etc/containerd/config.toml')!;
    expect(config.change).toBe('modify');
    expect(config.diff).toContain('--- a/etc/containerd/config.toml');
    expect(config.diff).toContain('-disabled_plugins = ["cri"]');
    expect(config.diff).toMatch(/^\+.*sandbox_image = "k8s.gcr.io\/pause:3.6"$/m);
    const flags = plan.files.find((f) => f.path === '/var/lib/kubelet/kubeadm-flags.env')!;
    expect(flags.diff).toContain('-KUBELET_KUBEADM_ARGS="--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6"');
    expect(flags.diff).toMatch(/^\+KUBELET_KUBEADM_ARGS=.*--container-runtime-endpoint=unix:\/\/\/run\/containerd\/containerd.sock/m);
    expect(plan.files.find((f) => f.path === '/etc/crictl.yaml')).toMatchObject({ change: 'create', diff: expect.stringContaining('--- /dev/null') });

    expect(plan.nodePatch.labels).toEqual({ 'cri-migrator.dev/migrate': 'containerd', [MIGRATED_LABEL]: 'containerd' });
    expect(plan.nodePatch.annotations).toMatchObject({
      [ANNOTATIONS.phase]: 'Succeeded',
      [ANNOTATIONS.sourceRuntime]: 'dockershim',
      [ANNOTATIONS.wasUnschedulable]: 'false',
      [ANNOTATIONS.previousCriSocket]: '/var/run/dockershim.sock',
      [KUBEADM_CRI_SOCKET_ANNOTATION]: 'unix:///run/containerd/containerd.sock',
      [ANNOTATIONS.startedAt]: expect.any(String),
    });
    expect(plan.nodePatch.annotations[ANNOTATIONS.intent]).toBeUndefined();
    expect(plan.nodePatch.unschedulable).toBeUndefined();
  });

  it('renders a readable plan', async () => {
    const w = cliWorld();
    w.evictor.blockedFor.set('web-2', Infinity);
    const text = renderPlanText([await planNode(w.ctx, 'w1', false)]);
    expect(text).toMatch(/^Node w1 \(docker:\/\/20\.10\.24, kubelet v1\.23\.17\): would reach Succeeded \(containerd\)\n/);
    expect(text).toMatch(/\n {2}Preflight checks:\n {4}ok {4}kubelet-version +kubelet 1\.23\.17 is supported\n/);
    expect(text).toContain('    evict   default/web-1 (ReplicaSet/web-5d8f)\n');
    expect(text).toMatch(/ {4}evict {3}default\/web-2 \(ReplicaSet\/web-5d8f\) {2}BLOCKED by PodDisruptionBudget web-2-pdb: /);
    expect(text).toContain('    skip    kube-system/kube-proxy-x (DaemonSet/kube-proxy): managed by a DaemonSet');
    expect(text).toMatch(/\n {4}1\. preflight \(Pending -> Preflight\)\n/);
    expect(text).toMatch(/\n {4}4\. configureRuntime \(Drained -> RuntimeConfigured\)\n/);
    expect(text).toContain('         $ systemctl stop kubelet.service\n');
    expect(text).toContain('         write /etc/containerd/config.toml (mode 0644; diff below)\n');
    expect(text).toContain('    --- a/etc/containerd/config.toml\n    +++ b/etc/containerd/config.toml\n');
    expect(text).toContain('    annotation  cri-migrator.dev/phase: "Succeeded"\n');
    expect(text.trimEnd().split('\n').at(-1)).toBe('Nothing was changed. To carry this out: cri-migrator migrate w1');
  });

  it('-o json is one parseable document with every node', async () => {
    const w = cliWorld();
    await planCommand(w.ctx, ['w1'], { output: 'json', retry: false });
    const doc = JSON.parse(w.stdout.join('')) as { kind: string; changed: boolean; nodes: NodePlan[] };
    expect(doc).toMatchObject({ kind: 'Plan', changed: false });
    expect(doc.nodes[0]).toMatchObject({ node: 'w1', ok: true });
    expect(doc.nodes[0]!.files.length).toBeGreaterThan(2);
    expect(renderPlanJson(doc.nodes)).toBe(w.stdout.join(''));
  });

  it('a failed preflight check makes the plan say the node would not migrate, exit 1', async () => {
    const w = cliWorld({ host: { runc: '' } });
    const code = await planCommand(w.ctx, ['w1'], { output: 'text', retry: false });
    expect(code).toBe(1);
    const text = w.stdout.join('');
    expect(text).toMatch(/would NOT migrate: preflight check\(s\) failed: runc-on-path/);
    expect(text).toMatch(/FAIL {2}runc-on-path +runc is not on the PATH containerd runs with/);
    expect(text).toContain('1 of 1 node(s) would not migrate: w1');
    expect(w.nodes.patches).toEqual([]);
  });

  it('a pod the drain refuses fails the plan and names the pod', async () => {
    const w = cliWorld();
    w.evictor.pods.push({ ...w.evictor.pods[0]!, name: 'scratch', uid: 'u-s', usesEmptyDir: true });
    const plan = await planNode(w.ctx, 'w1', false);
    expect(plan.ok).toBe(false);
    expect(plan.pods.refuse).toEqual([{ pod: 'default/scratch', owner: 'ReplicaSet/web-5d8f', reason: expect.stringContaining('drain.deleteEmptyDirData') }]);
  });

  it('a RolledBack node is refused without --retry and planned with it', async () => {
    const w = cliWorld({ w1: { annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.rollbackReason]: 'verify failed' } } });
    expect(await planCommand(w.ctx, ['w1'], { output: 'text', retry: false })).toBe(1);
    expect(w.stdout.join('')).toContain('refused: w1 ended RolledBack: verify failed. Fix the cause, then run: cri-migrator plan --retry w1');
    const plan = await planNode(w.ctx, 'w1', true);
    expect(plan).toMatchObject({ ok: true, preparation: [expect.stringMatching(/clear the RolledBack state/)] });
    expect(plan.nodePatch.annotations[ANNOTATIONS.rollbackReason]).toBeNull();
  });

  it('an unknown node is an error that says where to look', async () => {
    const w = cliWorld();
    expect(await planCommand(w.ctx, ['nope'], { output: 'text', retry: false })).toBe(1);
    expect(w.stderr.join('')).toMatch(/error: nope: node nope not found: check the name with kubectl get nodes/);
  });

  it('a node that must wait (another node is migrating) is reported, not waited for', async () => {
    const w = cliWorld();
    w.nodes.update('w2', (n) => ({ ...n, annotations: { [ANNOTATIONS.phase]: 'Drained' } }));
    const plan = await planNode(w.ctx, 'w1', false);
    expect(plan).toMatchObject({ ok: true, summary: expect.stringMatching(/^would wait before going on: concurrency 1 reached \(migrating: w2\)/) });
  });
});

describe('cli: migrate', () => {
  it('labels the node, migrates it with one progress line per step, and exits 0', async () => {
    const w = cliWorld({ w1: { labels: {} } });
    const code = await migrateCommand(w.ctx, ['w1'], { retry: false });
    expect(code).toBe(0);
    expect(w.stdout.join('')).toBe('w1: Succeeded (containerd://1.6.20)\n');
    expect(w.nodes.nodes.get('w1')!.labels).toMatchObject({ 'cri-migrator.dev/migrate': 'containerd', [MIGRATED_LABEL]: 'containerd' });
    const lines = w.progress.join('').trimEnd().split('\n').map((l) => l.replace(/^\d\d:\d\d:\d\d {2}/, ''));
    expect(lines[0]).toBe('w1  label the node cri-migrator.dev/migrate=containerd (it lacks the selector "cri-migrator.dev/migrate=containerd")');
    expect(lines).toContain('w1  preflight ... (Pending -> Preflight)');
    expect(lines).toContain('w1  drain ... (Cordoned -> Drained)');
    expect(lines.some((l) => /^w1 {2}Drained in \d/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^w1 {2}Succeeded in [\d.]+s \(total [\d.]+s\)$/);
  });

  it('reports a drain blocked by a PodDisruptionBudget while it waits', async () => {
    const w = cliWorld();
    w.evictor.blockedFor.set('web-2', 2);
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
    expect(w.progress.join('')).toMatch(/w1 {2}drain blocked, retrying: default\/web-2 \(PodDisruptionBudget web-2-pdb\)/);
  });

  it('a failing preflight rolls back: exit 1, and says how to retry', async () => {
    const w = cliWorld({ host: { runc: '' } });
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(1);
    expect(w.progress.join('')).toMatch(/FAILED preflight \(attempt 3\/3\): checks failed: runc-on-path/);
    expect(w.stdout.join('')).toMatch(/^w1: RolledBack: rolled back: preflight: checks failed/);
    expect(w.stderr.join('')).toContain('Fix the cause, then: cri-migrator migrate --retry w1');
    // The next run without --retry refuses; with --retry it starts over.
    w.stderr.length = 0;
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(1);
    expect(w.stderr.join('')).toMatch(/error: w1 ended RolledBack: /);
  });

  it('--retry takes a RolledBack node through once the cause is fixed', async () => {
    const w = cliWorld({ w1: { annotations: { [ANNOTATIONS.phase]: 'RolledBack', [ANNOTATIONS.rollbackReason]: 'x', [ANNOTATIONS.finishedAt]: '2024-05-01T11:00:00.000Z' } } });
    expect(await migrateCommand(w.ctx, ['w1'], { retry: true })).toBe(0);
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.phase]).toBe('Succeeded');
    expect(w.nodes.nodes.get('w1')!.annotations[ANNOTATIONS.rollbackReason]).toBeUndefined();
  });

  it('goes on with the next node after one fails', async () => {
    const w = cliWorld();
    expect(await migrateCommand(w.ctx, ['nope', 'w1'], { retry: false })).toBe(1);
    expect(w.stderr.join('')).toContain('error: nope: node nope not found');
    expect(w.stdout.join('')).toContain('w1: Succeeded');
  });

  it('uses the configured selector for the label', async () => {
    const w = cliWorld({ config: loadConfig({ sets: ['selector=pool=blue'] }), w1: { labels: {} } });
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
    expect(w.nodes.nodes.get('w1')!.labels['pool']).toBe('blue');
  });
});

describe('cli: plan of a Docker node with daemon.json, a proxy with credentials, containerd 2.x', () => {
  const DAEMON_JSON = JSON.stringify({
    'registry-mirrors': ['https://mirror.example.com'],
    'insecure-registries': ['registry.local:5000'],
    runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime' } },
    'default-runtime': 'nvidia',
    'storage-opts': ['overlay2.size=20G'],
  });
  const world = () => {
    const config = loadConfig({ sets: ['containerd.httpsProxy=http://proxyuser:s3cr%40t@proxy.local:3128'] });
    const w = cliWorld({
      config,
      host: { containerd: 'containerd github.com/containerd/containerd/v2 2.2.9+unknown ', files: { '/etc/docker/daemon.json': DAEMON_JSON } },
    });
    w.remote.files.set('/etc/docker/daemon.json', { content: DAEMON_JSON, mode: 0o644 });
    return w;
  };

  it('shows the config version and why, what is carried, the warnings, and masks the proxy password (text and JSON)', async () => {
    const w = world();
    const plan = await planNode(w.ctx, 'w1', false);
    expect(plan.ok).toBe(true);
    const text = renderPlanText([plan]);
    expect(text).toMatch(/ok +containerd-config-version +writes config version 3: containerd 2\.2\.9 reads config version 3; the existing version 1 file is migrated/);
    expect(text).toContain('  Carried over from /etc/docker/daemon.json:\n');
    expect(text).toContain('    - daemon.json registry-mirrors https://mirror.example.com -> /etc/containerd/certs.d/docker.io/hosts.toml, before Docker Hub\n');
    expect(text).toMatch(/ {4}- daemon\.json default-runtime nvidia -> config\.toml default_runtime_name = "nvidia"\n/);
    expect(text).toMatch(/ {4}WARN {2}daemon-json-storage-opts: storage options \["overlay2\.size=20G"\] \(size quotas/);
    expect(text).toContain('+Environment="HTTPS_PROXY=http://proxyuser:***@proxy.local:3128"');
    expect(text).not.toContain('s3cr');
    const json = renderPlanJson([plan]);
    expect(json).not.toContain('s3cr');
    expect(json).toContain('http://proxyuser:***@proxy.local:3128');
    expect(JSON.parse(json).nodes[0].preflight.find((c: { name: string }) => c.name === 'daemon-json-storage-opts')).toMatchObject({ ok: true, severity: 'warning' });
  });

  it('writes the real drop-in with the credentials, escaped for systemd, mode 0600', async () => {
    const w = world();
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(0);
    const dropIn = w.remote.files.get('/etc/systemd/system/containerd.service.d/http-proxy.conf')!;
    expect(dropIn.mode).toBe(0o600);
    expect(dropIn.content).toContain('Environment="HTTPS_PROXY=http://proxyuser:s3cr%%40t@proxy.local:3128"');
    expect(w.remote.files.get('/etc/containerd/certs.d/registry.local:5000/hosts.toml')!.content).toContain('[host."http://registry.local:5000"]');
  });
});

describe('cli: a config.toml containerd cannot read', () => {
  it('plan says what to do and migrate changes no file', async () => {
    const w = cliWorld({ host: { containerd: 'containerd github.com/containerd/containerd/v2 2.2.9+unknown ', files: { '/etc/containerd/config.toml': 'version = 4\n' } } });
    w.remote.files.set('/etc/containerd/config.toml', { content: 'version = 4\n', mode: 0o644 });
    const plan = await planNode(w.ctx, 'w1', false);
    expect(plan.ok).toBe(false);
    expect(plan.summary).toMatch(/preflight check\(s\) failed: containerd-config/);
    expect(plan.preflight.find((c) => c.name === 'containerd-config')!.message).toMatch(
      /is config version 4, newer than version 3 that containerd 2\.2\.9 is given; containerd 2\.2\.9 refuses it too: install a containerd that reads version 4, or rewrite the file as version 3/,
    );
    const before = structuredClone(w.remote.files);
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(1);
    expect(w.remote.files).toEqual(before);
    expect(w.remote.commands.filter((c) => c.mutates)).toEqual([]);
  });
});

describe('plan: what was rendered for the node, as data', () => {
  it('PlanRecorder keeps the rendered files; buildNodePlan puts the config version, carried items and warnings in the plan', async () => {
    const { PlanRecorder, buildNodePlan } = await import('../../src/cli/plan.js');
    const { renderFiles } = await import('../../src/host/files.js');
    const { parseFacts } = await import('../../src/host/facts.js');
    const { factsOutput } = await import('./facts-fixture.js');
    const { makeNode } = await import('./fakes.js');
    const config = loadConfig({});
    const rendered = renderFiles(parseFacts(factsOutput({ files: { '/etc/docker/daemon.json': '{"registry-mirrors":["https://m.example"],"bip":"10.9.0.1/16"}' } })), config);
    const recorder = new PlanRecorder();
    recorder.emit({ type: 'rendered', node: 'w1', rendered });
    expect(recorder.rendered).toBe(rendered);
    const node = makeNode();
    const plan = buildNodePlan({ before: node, after: node, preparation: { notes: [] }, result: undefined, steps: [], preflight: [], pods: [], now: new Date(0), rendered }, config);
    expect(plan.host).toEqual({
      containerd: expect.objectContaining({ version: 2, from: 1, reason: 'containerd 1.6.20 reads config version 2', defaultRuntime: 'runc' }),
      carried: [expect.objectContaining({ key: 'registry-mirrors', value: 'https://m.example' })],
      warnings: [expect.objectContaining({ key: 'network' })],
    });
  });
});
