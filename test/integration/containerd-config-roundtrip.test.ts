// The generated config.toml, read by the real containerd it is meant for: every release must boot
// with it without migrating it ("Configuration migrated from version ...") and without ignoring a
// key ("Ignoring unknown key"), with the CRI plugins loaded. Binaries: CRI_MIGRATOR_CONTAINERD_BINARIES
// (colon separated), else what hack/containerd-config-roundtrip.sh built, else /usr/bin/containerd.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { existingRegistryTls, newestConfigVersion, planContainerdConfig, registrySettings, type ContainerdConfigOptions } from '../../src/host/containerd-config.js';
import { parseVersion, type MinorVersion } from '../../src/domain/version.js';
import { bootWithConfig } from './containerd-binary.js';

const cacheDir = join(process.env['CRI_MIGRATOR_CACHE'] ?? '/var/cache/cri-migrator', 'containerd-config-check');

function binaries(): string[] {
  const listed = process.env['CRI_MIGRATOR_CONTAINERD_BINARIES'];
  if (listed) return listed.split(':').filter((b) => b !== '');
  const built = existsSync(cacheDir) ? readdirSync(cacheDir).map((v) => join(cacheDir, v, 'containerd')).filter((b) => existsSync(b)) : [];
  return [...(existsSync('/usr/bin/containerd') ? ['/usr/bin/containerd'] : []), ...built];
}

function versionOf(binary: string): MinorVersion {
  return parseVersion(execFileSync(binary, ['--version'], { encoding: 'utf8' }).replace(/^containerd\s+\S+\s+/, ''));
}

const fixture = (name: string) => readFileSync(new URL(`../fixtures/containerd/${name}`, import.meta.url), 'utf8');
// `written by`: a newer release's defaults hold keys an older one does not know; only older files are inputs.
const INPUTS: { name: string; text: string | null; writtenBy: string }[] = [
  { name: 'no file', text: null, writtenBy: '0.0.0' },
  { name: "Docker's package config (version 1)", text: readFileSync(new URL('../../hack/kind/containerd-docker-package.toml', import.meta.url), 'utf8'), writtenBy: '0.0.0' },
  { name: 'containerd 1.6.20 default (version 2)', text: fixture('default-1.6.20-debian.toml'), writtenBy: '1.6.20' },
  {
    name: 'a version 2 config with registry TLS and auth settings',
    text: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.corp:5000".tls]
  ca_file = "/etc/certs/corp-ca.pem"
[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.corp:5000".auth]
  username = "puller"
  password = "x"
`,
    writtenBy: '1.6.20',
  },
  { name: 'containerd 2.2.9 default (version 3)', text: fixture('default-2.2.9.toml'), writtenBy: '2.2.9' },
  { name: 'containerd 2.4.2 default (version 4)', text: fixture('default-2.4.2.toml'), writtenBy: '2.4.2' },
];
const notNewer = (a: MinorVersion, b: MinorVersion) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;

/** Only lines that speak about the config; the scratch host has no CNI config and some snapshotters cannot load. */
function configProblems(lines: readonly string[]): string[] {
  return lines.filter((l) => /migrated|unknown key|deprecat|invalid|failed to load plugin|cannot be set/i.test(l) && !/cni config load failed|snapshotter|btrfs|zfs|devmapper|aufs|erofs|blockfile|tracing/i.test(l));
}

const found = process.getuid?.() === 0 ? binaries() : [];
const why = process.getuid?.() !== 0 ? 'not root' : 'no containerd binary found (run hack/containerd-config-roundtrip.sh)';

describe.skipIf(found.length === 0)(`generated config.toml read by real containerd${found.length === 0 ? ` (skipped: ${why})` : ''}`, () => {
  for (const binary of found) {
    const version = versionOf(binary);
    const target = newestConfigVersion(version);
    const release = `${version.major}.${version.minor}.${version.patch}`;

    it(`containerd ${release} (${binary}) writes config version ${target} itself`, () => {
      expect(parse(execFileSync(binary, ['config', 'default'], { encoding: 'utf8' }))['version']).toBe(target);
    });

    if (target > 2) {
      it(`containerd ${release} does migrate a version ${target - 1} config (the check above can fail)`, { timeout: 90_000 }, async () => {
        const plan = planContainerdConfig(null, { version: (target - 1) as 2 | 3, containerdVersion: version, systemdCgroup: true, sandboxImage: 'registry.k8s.io/pause:3.10', registries: [] });
        if (!plan.ok) throw new Error(plan.problem);
        expect((await bootWithConfig(binary, plan.content)).log).toMatch(/Configuration migrated from version/);
      });
    }

    for (const input of INPUTS.filter((i) => notNewer(parseVersion(i.writtenBy), version) <= 0)) {
      it(`containerd ${release} boots with the config generated from ${input.name}, unmigrated, no key ignored`, { timeout: 90_000 }, async () => {
        const options: ContainerdConfigOptions = {
          version: target,
          containerdVersion: version,
          systemdCgroup: true,
          sandboxImage: 'registry.k8s.io/pause:3.10',
          registries: registrySettings({
            mirrors: { 'docker.io': ['https://mirror.example'] },
            insecure: [],
            plainHttp: [],
            httpsThenHttp: ['registry.local:5000'],
            tls: input.text ? existingRegistryTls(parse(input.text)) : {},
          }),
          cniBinDir: '/opt/cni/other',
          runtimes: [{ name: 'nvidia', runtimeType: 'io.containerd.runc.v2', options: { BinaryName: '/usr/bin/nvidia-container-runtime' } }],
          defaultRuntime: 'nvidia',
          enableSelinux: false,
          maxConcurrentDownloads: 5,
        };
        const plan = planContainerdConfig(input.text, options);
        if (!plan.ok) throw new Error(plan.problem);
        const report = await bootWithConfig(binary, plan.content);
        expect(report.booted, report.log.slice(-3000)).toBe(true);
        // containerd 2.x deprecates registry.configs (auth) and 2.4 ignores it: the plan warns about exactly that.
        const warned = plan.warnings.some((w) => w.startsWith('registry.configs'));
        expect(configProblems(report.problems).filter((l) => !(warned && /configs/i.test(l)))).toEqual([]);
        if (warned) expect(report.problems.some((l) => /configs/i.test(l))).toBe(true);
        expect(report.log).not.toMatch(/Configuration migrated from version/);
        // The CRI plugins loaded (1.x: io.containerd.grpc.v1.cri; 2.x: the runtime and images plugins too).
        for (const id of version.major >= 2 ? ['io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.grpc.v1.cri'] : ['io.containerd.grpc.v1.cri']) {
          expect(report.log).toMatch(new RegExp(`loading plugin.*${id.replace(/\./g, '\\.')}`));
          expect(report.log).not.toMatch(new RegExp(`failed to load plugin.*${id.replace(/\./g, '\\.')}`));
        }
      });
    }
  }
});
