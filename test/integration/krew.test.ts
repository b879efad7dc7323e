// plugins/cri-migrate.yaml is a krew plugin manifest (the schema krew validates), and the archive
// hack/krew-package.sh builds is the one it describes: its sha256, the files it names, a launcher
// that runs. Where hack/build-pkg-tools.sh has built krew, krew's own manifest check and a real
// `krew install --manifest --archive` confirm it.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { packagingTool, repoRoot, type Obj } from '../packaging.js';

const SEMVER = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const pkg = JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8'));
const committedText = readFileSync(`${repoRoot}plugins/cri-migrate.yaml`, 'utf8');

/** What krew's ValidatePlugin checks (internal/index/validation), plus our own expectations. */
function expectValidManifest(m: Obj, name: string, opts: { placeholders: boolean }) {
  expect(m.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
  expect(m.kind).toBe('Plugin');
  expect(m.metadata.name).toBe(name);
  expect(m.metadata.name).toMatch(/^[\w-]+$/);
  expect(m.spec.version).toMatch(SEMVER);
  expect(m.spec.version).toBe(`v${pkg.version}`);
  expect(m.spec.shortDescription).toMatch(/^[^\r\n]+$/);
  expect(m.spec.platforms.length).toBeGreaterThan(0);
  for (const p of m.spec.platforms as Obj[]) {
    const sel = p.selector;
    expect(sel.matchLabels || sel.matchExpressions?.length, 'empty selector').toBeTruthy();
    const keys = [...Object.keys(sel.matchLabels ?? {}), ...(sel.matchExpressions ?? []).map((e: Obj) => e.key)];
    for (const k of keys) expect(['os', 'arch']).toContain(k);
    for (const e of sel.matchExpressions ?? []) expect(['In', 'NotIn', 'Exists', 'DoesNotExist']).toContain(e.operator);
    if (opts.placeholders) {
      expect(p.uri).toBe('@ARCHIVE_URI@');
      expect(p.sha256).toBe('@ARCHIVE_SHA256@');
    } else {
      expect(p.uri).toMatch(/^(https|file):\/\/\S+\.tar\.gz$/);
      expect(p.sha256).toMatch(/^[a-f0-9]{64}$/);
    }
    expect(p.bin).toBeTruthy();
    expect(p.files.length).toBeGreaterThan(0);
    for (const f of p.files as Obj[]) {
      expect(f.from).toBeTruthy();
      expect(f.to).toBe(normalize(f.to)); // krew refuses a `to` that is not a clean path
    }
  }
}

describe('plugins/cri-migrate.yaml', () => {
  it('is a krew manifest for this version, its archive uri and sha256 left to hack/krew-package.sh', () => {
    expectValidManifest(YAML.parse(committedText), 'cri-migrate', { placeholders: true });
  });

  it('installs as `kubectl cri-migrate` (krew links kubectl-cri_migrate) on Linux and macOS', () => {
    const [platform] = YAML.parse(committedText).spec.platforms;
    expect(platform.bin.split('/').pop()).toBe('kubectl-cri_migrate');
    expect(platform.selector.matchExpressions).toEqual([{ key: 'os', operator: 'In', values: ['linux', 'darwin'] }]);
  });
});

describe('the archive built by hack/krew-package.sh', () => {
  let out: string;
  let manifestPath: string;
  let archive: string;
  let manifest: Obj;
  let entries: Map<string, string>; // path -> ls-style mode
  const platform = () => manifest.spec.platforms[0] as Obj;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'crim-krew-'));
    // Asynchronous: a build of a minute must not block the worker (vitest's RPC times out).
    const { stdout } = await promisify(execFile)('bash', [`${repoRoot}hack/krew-package.sh`, '--out', out, '--base-url', 'https://downloads.example.com/cri-migrator/v0.1.0']);
    [manifestPath, archive] = stdout.trim().split('\n') as [string, string];
    manifest = YAML.parse(readFileSync(manifestPath, 'utf8'));
    entries = new Map(
      execFileSync('tar', ['-tzvf', archive], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .trim().split('\n')
        .map((line) => { const f = line.split(/\s+/); return [f.slice(5).join(' ').replace(/\/$/, ''), f[0]!] as [string, string]; }),
    );
  }, 10 * 60_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('comes with a valid manifest: the committed one with the uri and the sha256 of this archive', () => {
    expectValidManifest(manifest, 'cri-migrate', { placeholders: false });
    expect(platform().uri).toBe(`https://downloads.example.com/cri-migrator/v0.1.0/cri-migrate-${pkg.version}.tar.gz`);
    expect(platform().sha256).toBe(createHash('sha256').update(readFileSync(archive)).digest('hex'));
    const unfilled = YAML.parse(committedText);
    unfilled.spec.platforms[0].uri = platform().uri;
    unfilled.spec.platforms[0].sha256 = platform().sha256;
    expect(manifest).toEqual(unfilled);
  });

  it('holds every file the manifest names, and the bin is an executable after krew moves them', () => {
    for (const f of platform().files as Obj[]) expect(entries.has(f.from), `${f.from} is not in the archive`).toBe(true);
    const move = (platform().files as Obj[]).find((f) => platform().bin === f.to || platform().bin.startsWith(`${f.to}/`))!;
    expect(move, `no files entry installs ${platform().bin}`).toBeDefined();
    const source = `${move.from}${platform().bin.slice(move.to.length)}`;
    expect(entries.get(source), `${source} in the archive`).toMatch(/^-rwx/);
    // What the launcher and the CLI need at run time: dist/main.js beside bin/, the playbooks
    // (config default <install dir>/playbooks), package.json ("type": "module"), the runtime deps.
    const playbooks = readdirSync(`${repoRoot}playbooks`).map((f) => `package/playbooks/${f}`);
    expect(playbooks.length).toBeGreaterThan(0);
    for (const need of ['package/dist/main.js', ...playbooks, 'package/package.json', 'package/LICENSE']) {
      expect(entries.has(need), need).toBe(true);
    }
    for (const dep of Object.keys(pkg.dependencies)) expect(entries.has(`package/node_modules/${dep}`), dep).toBe(true);
  });

  it('ships no dev dependencies, no native addons, no symlinks (krew cannot unpack them) and nothing outside package/', () => {
    expect([...entries].filter(([, mode]) => !/^[-d]/.test(mode)).map(([p]) => p)).toEqual([]);
    // Dev-only packages per the lock (@types/node, say, is also a runtime dependency of client-node).
    const lock = JSON.parse(readFileSync(`${repoRoot}package-lock.json`, 'utf8'));
    const devOnly = Object.entries(lock.packages as Record<string, Obj>).filter(([, p]) => p.dev).map(([path]) => `package/${path}`);
    expect(devOnly.length).toBeGreaterThan(0);
    expect(devOnly.filter((p) => entries.has(p))).toEqual([]);
    expect([...entries.keys()].filter((p) => p.endsWith('.node'))).toEqual([]);
    expect([...entries.keys()].filter((p) => p !== 'package' && !p.startsWith('package/'))).toEqual([]);
  });

  it('runs: the launcher from the unpacked archive prints the CLI help', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crim-krew-run-'));
    try {
      execFileSync('tar', ['-xzf', archive, '-C', dir]);
      const help = execFileSync(`${dir}/package/bin/kubectl-cri_migrate`, ['--help'], { encoding: 'utf8' });
      expect(help).toMatch(/kubectl cri-migrate COMMAND/);
      expect(help).toMatch(/\bplan\b[\s\S]*\bmigrate\b[\s\S]*\bstatus\b[\s\S]*\bcheck\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  const validate = packagingTool('validate-krew-manifest');
  it.skipIf(!validate)("passes krew-index's validate-krew-manifest (structure, platforms used, no overlaps)", () => {
    // Without -skip-install it would download the uri; the install is checked below with --archive.
    execFileSync(validate!, ['-manifest', manifestPath, '-skip-install'], { encoding: 'utf8', stdio: 'pipe' });
  });

  const krew = packagingTool('krew');
  it.skipIf(!krew)('installs with krew from the archive, and `kubectl-cri_migrate` runs from krew\'s bin', () => {
    const root = mkdtempSync(join(tmpdir(), 'crim-krew-root-'));
    try {
      const env = { ...process.env, KREW_ROOT: root, KREW_NO_UPGRADE_CHECK: '1' };
      execFileSync(krew!, ['install', `--manifest=${manifestPath}`, `--archive=${archive}`], { env, encoding: 'utf8', stdio: 'pipe' });
      const help = execFileSync(`${root}/bin/kubectl-cri_migrate`, ['--help'], { encoding: 'utf8' });
      expect(help).toMatch(/kubectl cri-migrate COMMAND/);
      // krew's receipt of the install (`krew list` needs the default index, a git clone).
      const receipt = YAML.parse(readFileSync(`${root}/receipts/cri-migrate.yaml`, 'utf8'));
      expect(receipt.spec.version).toBe(`v${pkg.version}`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
