// Issue 11: which images a node needs in containerd, read from what Docker runs there, the
// static pod manifests and the sandbox image; what else depended on Docker.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseFacts } from '../../src/host/facts.js';
import { renderFiles } from '../../src/host/files.js';
import { carryCommand, imagesScript, normalizeReference, parseImagesFacts, planCarry } from '../../src/host/images.js';
import { preflightChecks } from '../../src/host/preflight.js';
import { factsOutput, imagesOutput } from './facts-fixture.js';

const facts = (spec: Parameters<typeof imagesOutput>[0] = {}) => parseImagesFacts(imagesOutput(spec));
const plan = (spec: Parameters<typeof imagesOutput>[0] = {}, exclude: string[] = [], sandboxImage = 'k8s.gcr.io/pause:3.6') => planCarry(facts(spec), { sandboxImage, exclude });

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['team/app:2', 'docker.io/team/app:2'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
    ['localhost/app', 'localhost/app:latest'],
    ['registry.local:5000/app', 'registry.local:5000/app:latest'],
    ['nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'],
  ])('%s is %s in containerd', (ref, normalized) => {
    expect(normalizeReference(ref)).toBe(normalized);
  });
});

describe('what to carry', () => {
  it('takes the images of the pods Docker runs (by their labels) and the sandbox image, with sizes', () => {
    const p = plan();
    expect(p.images.map((i) => [i.ref, i.sizeBytes, i.present])).toEqual([
      ['docker.io/library/busybox:1.36', 4_400_000, false],
      ['k8s.gcr.io/kube-proxy:v1.23.17', 110_000_000, false],
      ['k8s.gcr.io/pause:3.6', 680_000, false],
    ]);
    expect(p.images.find((i) => i.ref === 'k8s.gcr.io/pause:3.6')!.usedBy.sort()).toEqual(['kube-system/kube-proxy-x', 'sandbox image']);
    expect(p.bytesToMove).toBe(115_080_000);
    expect(p.problems).toEqual([]);
  });

  it('adds the static pods\' images from the kubelet\'s manifests', () => {
    const p = plan({ staticPodImages: ['registry.k8s.io/etcd:3.5.16-0'], images: [...(facts().images.map((i) => [i.id, i.tags, i.digests, i.sizeBytes]) as [string, string[], string[], number][]), ['sha256:etcd', ['registry.k8s.io/etcd:3.5.16-0'], [], 57_000_000]] });
    expect(p.images.find((i) => i.ref === 'registry.k8s.io/etcd:3.5.16-0')).toMatchObject({ usedBy: ['static pod manifest'], sizeBytes: 57_000_000 });
  });

  it('skips what is already in containerd, and leaves out the excluded', () => {
    const p = plan({ inContainerd: ['k8s.gcr.io/kube-proxy:v1.23.17'] }, ['docker.io/library/*']);
    expect(p.images.map((i) => [i.ref, i.present])).toEqual([
      ['k8s.gcr.io/kube-proxy:v1.23.17', true],
      ['k8s.gcr.io/pause:3.6', false],
    ]);
    expect(p.excluded).toEqual(['docker.io/library/busybox:1.36']);
    expect(p.bytesToMove).toBe(680_000);
  });

  it('adds the images images.include names though no container uses them, still minding exclude', () => {
    const extra: [string, string[], string[], number][] = [
      ['sha256:app1', ['registry.example.com/team/app:1', 'registry.example.com/team/app:2'], [], 20_000_000],
      ['sha256:tool', ['tool:3'], [], 1_000_000],
    ];
    const images = [...(facts().images.map((i) => [i.id, i.tags, i.digests, i.sizeBytes]) as [string, string[], string[], number][]), ...extra];
    const withInclude = (include: string[], exclude: string[] = []) => planCarry(facts({ images }), { sandboxImage: 'k8s.gcr.io/pause:3.6', include, exclude });
    const p = withInclude(['registry.example.com/*']);
    expect(p.images.filter((i) => i.usedBy.includes('images.include')).map((i) => i.ref)).toEqual(['registry.example.com/team/app:1', 'registry.example.com/team/app:2']);
    expect(p.bytesToMove).toBe(115_080_000 + 2 * 20_000_000);
    // A pattern without a tag matches every tag; with one, only that tag.
    expect(withInclude(['registry.example.com/team/app:2']).images.filter((i) => i.usedBy.includes('images.include')).map((i) => i.ref)).toEqual(['registry.example.com/team/app:2']);
    expect(withInclude(['tool']).images.filter((i) => i.usedBy.includes('images.include')).map((i) => i.ref)).toEqual(['docker.io/library/tool:3']);
    // "*": every tagged image Docker holds; exclude wins.
    const all = withInclude(['*'], ['registry.example.com/*']);
    expect(all.images.map((i) => i.ref)).toEqual(['docker.io/library/busybox:1.36', 'docker.io/library/tool:3', 'k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6']);
    expect(all.excluded.sort()).toEqual(['registry.example.com/team/app:1', 'registry.example.com/team/app:2']);
    // Nothing named: as before.
    expect(withInclude([]).images.map((i) => i.ref)).toEqual(plan().images.map((i) => i.ref));
  });

  it('keeps carrying what the pods used before the drain, once their containers are gone', () => {
    // Recorded at preflight (busybox was used by a pod); after the drain Docker runs only kube-proxy.
    const drained = plan({ containers: facts().containers.filter((c) => c.image !== 'busybox:1.36').map((c) => [c.id, c.image, c.imageId, `/${c.name}`, String(c.running), ...(c.pod ? c.pod.split('/') : ['', ''])]) as never, recorded: ['docker.io/library/busybox:1.36'] });
    expect(drained.images.find((i) => i.ref === 'docker.io/library/busybox:1.36')).toMatchObject({ usedBy: ['recorded before the drain'], present: false });
    expect(drained.problems).toEqual([]);
  });

  it('a container made from an image ID carries the image under its tags', () => {
    const p = plan({ containers: [['c9', 'sha256:bb', 'sha256:bb', '/k8s_app_x', 'true', 'default', 'x']] });
    expect(p.images.map((i) => i.ref)).toContain('docker.io/library/busybox:1.36');
  });

  it('says what cannot be carried: an image used by digest, one Docker does not have', () => {
    const digest = 'nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    const p = plan({ containers: [['c9', digest, 'sha256:ng', '/k8s_app_y', 'true', 'default', 'y']] }, [], 'registry.k8s.io/pause:3.10');
    expect(p.problems).toEqual([
      expect.stringMatching(/^docker.io\/library\/nginx@sha256:0123.* is used by digest \(default\/y\): Docker cannot export it under that digest/),
      expect.stringMatching(/^registry.k8s.io\/pause:3.10 \(sandbox image\) is neither in Docker nor in containerd/),
    ]);
  });

  it('takes "<no value>" (a container whose labels are nil) for no label', () => {
    const out = imagesOutput().replace('@@cri-migrator-images:images', 'c8\tbusybox:1.36\tsha256:bb\t/agent\ttrue\t<no value>\t<no value>\n@@cri-migrator-images:images');
    expect(planCarry(parseImagesFacts(out), { sandboxImage: 'k8s.gcr.io/pause:3.6', exclude: [] }).nonKubernetes).toEqual([{ name: 'agent', image: 'busybox:1.36' }]);
  });

  it('reads the Engine API\'s answers as it reads the docker CLI\'s: the same containers and images', () => {
    const fromCli = facts();
    const M = '@@cri-migrator-images:';
    // GET /containers/{id}/json for each container (one gone meanwhile), GET /images/json.
    const inspect = fromCli.containers.map((c) =>
      JSON.stringify({
        Id: c.id,
        Name: `/${c.name}`,
        Image: c.imageId,
        State: { Running: c.running, Status: 'running' },
        Config: { Image: c.image, Labels: c.pod ? { 'io.kubernetes.pod.namespace': c.pod.split('/')[0], 'io.kubernetes.pod.name': c.pod.split('/')[1] } : null },
        HostConfig: { NetworkMode: 'none' },
      }),
    );
    const list = JSON.stringify([...fromCli.images.map((i) => ({ Id: i.id, RepoTags: i.tags, RepoDigests: i.digests, Size: i.sizeBytes, Containers: -1 })), { Id: 'sha256:dangling', RepoTags: ['<none>:<none>'], RepoDigests: ['<none>@<none>'], Size: 7 }]);
    const cliOut = imagesOutput();
    const apiOut = cliOut
      .replace(new RegExp(`${M}containers\\n[\\s\\S]*?${M}images\\n[\\s\\S]*?${M}static`), `${M}containers\n${inspect.map((l) => `json ${l}`).join('\n')}\njson {"message":"No such container: c0"}\n${M}images\njson ${list}\n${M}static`);
    expect(apiOut).not.toBe(cliOut);
    const fromApi = parseImagesFacts(apiOut);
    expect(fromApi.containers).toEqual(fromCli.containers);
    expect(fromApi.images).toEqual([...fromCli.images, { id: 'sha256:dangling', tags: [], digests: [], sizeBytes: 7 }]);
  });

  it('asks Docker\'s socket only when curl and the socket are there, else the docker CLI', () => {
    const script = imagesScript('/b');
    expect(script).toMatch(/^dapi\(\) \{ \[ -S \/var\/run\/docker\.sock \] && command -v curl /m);
    expect(script).toContain("if list=$(dapi '/containers/json?all=1'); then");
    expect(script).toContain('docker ps -aq --no-trunc | xargs -r docker inspect');
    expect(script).toContain('if list=$(dapi /images/json); then');
    expect(script).toContain('docker images -q --no-trunc');
  });

  it('names the containers Docker runs outside Kubernetes (running ones)', () => {
    const p = plan({ containers: [...facts().containers.map((c) => [c.id, c.image, c.imageId, `/${c.name}`, String(c.running), ...(c.pod ? c.pod.split('/') : ['', ''])]), ['c8', 'busybox:1.36', 'sha256:bb', '/backup-agent', 'true', '', ''], ['c7', 'busybox:1.36', 'sha256:bb', '/old', 'false', '', '']] });
    expect(p.nonKubernetes).toEqual([{ name: 'backup-agent', image: 'busybox:1.36' }]);
  });

  it('with Docker stopped, uses the list an earlier attempt recorded', () => {
    const p = plan({ dockerRunning: false, recorded: ['k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'], inContainerd: ['k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'] });
    expect(p.fromRecord).toBe(true);
    expect(p.images.every((i) => i.present)).toBe(true);
    expect(p.problems).toEqual([]);
  });
});

describe('the cheap path: Docker\'s containerd image store', () => {
  // What `ctr -n moby images ls -q` lists on such a node: Docker's images under their full names.
  const moby = ['docker.io/library/busybox:1.36', 'k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'];
  const store = { inMoby: moby };

  it('takes each image in the moby namespace from there, the others (none here) from docker save', () => {
    const p = plan(store);
    expect(p.images.map((i) => [i.ref, i.fromMoby, i.present])).toEqual(moby.map((r) => [r, true, false]));
    expect(plan().images.every((i) => !i.fromMoby)).toBe(true);
    const partly = plan({ ...store, inMoby: ['k8s.gcr.io/pause:3.6'] });
    expect(partly.images.filter((i) => i.fromMoby).map((i) => i.ref)).toEqual(['k8s.gcr.io/pause:3.6']);
  });

  it('exports from moby and imports into k8s.io with ctr (no docker save), and checks the name landed', () => {
    const pause = plan(store).images.find((i) => i.ref === 'k8s.gcr.io/pause:3.6')!;
    expect(carryCommand(pause)).toBe(
      'l=; if ctr images export --help 2>&1 | grep -q -- --local; then l=--local; fi; ' +
        'ctr -n moby images export $l - k8s.gcr.io/pause:3.6 | ctr -n k8s.io images import $l - && ctr -n k8s.io images ls -q | grep -qxF k8s.gcr.io/pause:3.6',
    );
    const fromDocker = plan().images.find((i) => i.ref === 'k8s.gcr.io/pause:3.6')!;
    expect(carryCommand(fromDocker)).toMatch(/^docker save k8s.gcr.io\/pause:3.6 \| ctr -n k8s.io images import --all-platforms - /);
  });

  it('carries from moby with Docker stopped (a retry after stop-docker), which the graph driver cannot', () => {
    const recorded = ['k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'];
    const stopped = plan({ dockerRunning: false, recorded, inMoby: moby });
    expect(stopped.problems).toEqual([]);
    expect(stopped.images.map((i) => [i.ref, i.fromMoby])).toEqual(recorded.map((r) => [r, true]));
    expect(plan({ dockerRunning: false, recorded }).problems).toEqual([
      expect.stringMatching(/^k8s.gcr.io\/kube-proxy:v1.23.17 is not in containerd and Docker is stopped/),
      expect.stringMatching(/^k8s.gcr.io\/pause:3.6 is not in containerd and Docker is stopped/),
    ]);
  });

  it('carries an image used by digest from moby, where its manifest is kept as pulled', () => {
    const digest = 'nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    const containers: [string, string, string, string, string, string, string][] = [['c9', digest, 'sha256:ng', '/k8s_app_y', 'true', 'default', 'y']];
    expect(plan({ containers }).problems[0]).toMatch(/is used by digest/);
    const p = plan({ containers, inMoby: [normalizeReference(digest), 'k8s.gcr.io/pause:3.6'] });
    expect(p.problems).toEqual([]);
    expect(p.images.find((i) => i.ref.includes('@sha256:'))).toMatchObject({ fromMoby: true });
  });
});

describe('preflight of images and Docker\'s other containers', () => {
  const checks = (sets: string[] = [], spec: Parameters<typeof imagesOutput>[0] = {}) => {
    const config = loadConfig({ sets });
    const f = parseFacts(factsOutput({ images: spec }));
    return Object.fromEntries(preflightChecks(f, config, 'dockershim', renderFiles(f, config)).map((c) => [c.name, c]));
  };
  const withAgent = { containers: [['c8', 'busybox:1.36', 'sha256:bb', '/backup-agent', 'true', '', '']] };

  it('lists the images and what they add up to', () => {
    expect(checks()['images']).toMatchObject({ ok: true, severity: 'info', message: expect.stringMatching(/^3 images into containerd's k8s.io namespace, 3 to carry \(109.7 MiB\): docker.io\/library\/busybox:1.36 \(4.2 MiB\)/) });
  });

  it('says when the images come from Docker\'s containerd image store, and how', () => {
    expect(checks()['images']!.message).not.toContain('moby');
    const store = { inMoby: ['docker.io/library/busybox:1.36', 'k8s.gcr.io/kube-proxy:v1.23.17', 'k8s.gcr.io/pause:3.6'] };
    expect(checks([], store)['images']!.message).toMatch(/; Docker keeps its images in containerd \(containerd image store\): 3 taken from its moby namespace \(ctr export \| ctr import, blobs shared with k8s.io, not copied\)$/);
  });

  it('refuses a node whose images add up to more than images.maxTotalMiB', () => {
    expect(checks(['images.maxTotalMiB=50'])['images-size']).toMatchObject({ ok: false, message: expect.stringMatching(/3 images, 109.7 MiB to carry, more than images.maxTotalMiB \(50 MiB\)/) });
  });

  it('refuses a node where Docker runs containers outside Kubernetes, unless allowed', () => {
    expect(checks([], withAgent)['non-kubernetes-containers']).toMatchObject({ ok: false, message: expect.stringMatching(/outside Kubernetes on this node: backup-agent \(busybox:1.36\)\. They would stop with Docker.*preflight.allowNonKubernetesContainers/) });
    expect(checks(['preflight.allowNonKubernetesContainers=true'], withAgent)['non-kubernetes-containers']).toMatchObject({ ok: true, severity: 'warning' });
  });

  it('with carry-over off, warns which images will have to be pulled', () => {
    expect(checks(['images.carryOver=false'])['images']).toMatchObject({ ok: true, severity: 'warning', message: expect.stringContaining('pulled from their registries: docker.io/library/busybox:1.36, k8s.gcr.io/kube-proxy:v1.23.17, k8s.gcr.io/pause:3.6') });
  });
});

describe('the images probe, run with a real sh over stand-in docker, ctr, systemctl and curl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crim-probe-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const tool = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  // Each part's first command notes its start and end in $PROBE_LOG (after 1 s there) when it is set.
  const note = (part: string) => `[ -n "$PROBE_LOG" ] && { echo "start ${part}" >> "$PROBE_LOG"; sleep 1; echo "end ${part}" >> "$PROBE_LOG"; }`;
  tool('systemctl', `case "$1" in is-active) echo active ;; is-system-running) ${note('rest')}; echo running ;; esac`);
  tool('curl', 'exit 7'); // no Engine API: the docker CLI
  tool(
    'docker',
    [
      'case "$1 $2" in',
      `"ps -aq") ${note('containers')}; printf "c1\\nc2\\n" ;;`,
      `"inspect --format") shift 3; for c in "$@"; do printf "%s\\tregistry.k8s.io/kube-proxy:v1.32.2\\tsha256:kp\\t/k8s_kube-proxy_%s\\ttrue\\tkube-system\\tkube-proxy-%s\\n" "$c" "$c" "$c"; done ;;`,
      `"images -q") ${note('images')}; printf "sha256:kp\\nsha256:kp\\n" ;;`,
      `"image inspect") printf 'sha256:kp\\t["registry.k8s.io/kube-proxy:v1.32.2"]\\t[]\\t157000000\\n' ;;`,
      'esac',
    ].join('\n'),
  );
  // With $PROBE_CUT naming a file that exists, the first k8s.io listing removes it and kills the
  // shell it runs in: that part's file is cut short.
  tool('ctr', `case "$2" in k8s.io) ${note('containerd')}; if [ -n "$PROBE_CUT" ] && [ -e "$PROBE_CUT" ]; then rm -f "$PROBE_CUT"; kill -9 $PPID; exit 1; fi; echo registry.k8s.io/pause:3.10 ;; moby) ;; esac`);
  // The stand-ins ahead of the system's own (the probe puts the system's directories first).
  const script = imagesScript(join(dir, 'backup')).replace(/^export PATH=.*$/m, `export PATH=${bin}:$PATH`);
  const probe = (tmp: string, log = '', cut = '') => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp, PROBE_LOG: log, PROBE_CUT: cut } });

  it('asks its four parts at once, each into a file of its own temporary directory (removed), and parses as asked one after another', () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const together = probe(tmp);
    expect(readdirSync(tmp)).toEqual([]); // its directory removed
    const inTurn = probe(join(dir, 'no-such-dir')); // no temporary directory: one after another
    for (const out of [together, inTurn]) {
      expect(out.trimEnd().split('\n').at(-1)).toBe('@@cri-migrator-images:end');
      expect(out).not.toContain('part-done'); // the parts' closing lines are not passed on
      for (const section of ['docker-running', 'docker-state', 'system-state', 'containers', 'images', 'static', 'containerd', 'moby', 'recorded']) {
        expect(out.split('\n').filter((l) => l === `@@cri-migrator-images:${section}`)).toHaveLength(1);
      }
    }
    const a = parseImagesFacts(together);
    expect(a).toEqual(parseImagesFacts(inTurn));
    expect(a.containers.map((c) => `${c.id} ${c.pod}`)).toEqual(['c1 kube-system/kube-proxy-c1', 'c2 kube-system/kube-proxy-c2']);
    expect(a.images).toEqual([{ id: 'sha256:kp', tags: ['registry.k8s.io/kube-proxy:v1.32.2'], digests: [], sizeBytes: 157000000 }]);
    expect(a.inContainerd).toEqual(['registry.k8s.io/pause:3.10']);
    expect(a.dockerRunning).toBe(true);
    // At once: every part had started before the first one ended.
    const log = join(dir, 'parts.log');
    probe(tmp, log);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.slice(0, 4).every((l) => l.startsWith('start '))).toBe(true);
    expect(new Set(lines.map((l) => l.split(' ')[1]))).toEqual(new Set(['containers', 'images', 'containerd', 'rest']));
  });

  it('a part whose file is cut short is not taken: the parts are asked again one after another', () => {
    const tmp = join(dir, 'tmp-cut');
    mkdirSync(tmp);
    const cut = join(dir, 'cut-once');
    writeFileSync(cut, '');
    const out = probe(tmp, '', cut);
    expect(existsSync(cut)).toBe(false); // the k8s.io part was cut short
    expect(readdirSync(tmp)).toEqual([]);
    expect(out.split('\n').filter((l) => l === '@@cri-migrator-images:containerd')).toHaveLength(1);
    expect(parseImagesFacts(out)).toEqual(parseImagesFacts(probe(tmp)));
    expect(parseImagesFacts(out).inContainerd).toEqual(['registry.k8s.io/pause:3.10']);
  });
});
