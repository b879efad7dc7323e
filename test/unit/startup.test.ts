// Issue 8 (3): bad input is refused at start-up, with the field and what to do, and changes nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrateCommand, planCommand } from '../../src/cli/commands.js';
import { ConfigError, loadConfig, loadConfigFile } from '../../src/config.js';
import { LeaseLock } from '../../src/kube/lease.js';
import { KubeconfigError, loadKubeConfig } from '../../src/kube/index.js';
import { LeaseNamespaceMissingError, systemClock } from '../../src/ports.js';
import { checkSshFiles, nodesWithoutHostKey } from '../../src/remote/ssh-files.js';
import { cliWorld } from './cli-world.js';
import { makeNode } from './fakes.js';

const dir = mkdtempSync(join(tmpdir(), 'crim-startup-'));
const keygen = (name: string, passphrase: string) => {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', path]);
  return path;
};

describe('SSH files', () => {
  const good = keygen('good', '');
  const encrypted = keygen('encrypted', 'secret');
  const known = join(dir, 'known_hosts');
  writeFileSync(known, `10.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFakeKey\n[10.0.0.5]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFakeKey\n`);
  const ssh = (set: string[]) => loadConfig({ sets: set }).ssh;

  it('accepts a readable unencrypted key and a readable known_hosts', () => {
    const r = checkSshFiles(ssh([`ssh.privateKeyPath=${good}`, `ssh.knownHostsPath=${known}`]));
    expect(r.problems).toEqual([]);
    expect(r.knownHosts).toHaveLength(2);
  });

  it.each<[string, string[], RegExp]>([
    ['a missing key', ['ssh.privateKeyPath=/nonexistent/key'], /^ssh.privateKeyPath \/nonexistent\/key: cannot read it \(no such file\)\. Fix:/],
    ['a passphrase-protected key', [`ssh.privateKeyPath=${encrypted}`], /the key is protected by a passphrase, which nothing here can type/],
    ['a file that is no key', [`ssh.privateKeyPath=${known}`], /not a private key cri-migrator can use/],
    ['a missing known_hosts', ['ssh.knownHostsPath=/nonexistent/known_hosts'], /^ssh.knownHostsPath \/nonexistent\/known_hosts: cannot read it/],
  ])('refuses %s', (_, sets, message) => {
    const r = checkSshFiles(ssh([`ssh.privateKeyPath=${good}`, `ssh.knownHostsPath=${known}`, ...sets]));
    expect(r.problems.join('\n')).toMatch(message);
  });

  it('does not need known_hosts with insecureAcceptNewHostKeys', () => {
    expect(checkSshFiles(ssh([`ssh.privateKeyPath=${good}`, 'ssh.knownHostsPath=/nonexistent', 'ssh.insecureAcceptNewHostKeys=true'])).problems).toEqual([]);
  });

  it('names each node known_hosts has no entry for, by the address it would connect to', () => {
    const { knownHosts } = checkSshFiles(ssh([`ssh.privateKeyPath=${good}`, `ssh.knownHostsPath=${known}`]));
    const nodes = [makeNode({ name: 'w1' }), makeNode({ name: 'w9', addresses: [{ type: 'InternalIP', address: '10.0.0.9' }] })];
    expect(nodesWithoutHostKey(knownHosts!, nodes, ssh([]))).toEqual([expect.stringMatching(/^w9 \(10\.0\.0\.9\): no entry in/)]);
    const onPort = ssh(['ssh.port=2222']);
    expect(nodesWithoutHostKey(knownHosts!, [makeNode({ name: 'w5', addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] })], onPort)).toEqual([]);
  });

  it('migrate and plan refuse with exit 2 before any node is labelled when a named node has no host key', async () => {
    const w = cliWorld({ w1: { labels: {} } });
    w.ctx.missingHostKeys = (nodes) => nodes.filter((n) => n.name === 'w1').map((n) => `${n.name} (10.0.0.2): no entry`);
    expect(await migrateCommand(w.ctx, ['w1'], { retry: false })).toBe(2);
    expect(await planCommand(w.ctx, ['w1'], { retry: false, output: 'text' })).toBe(2);
    expect(w.stderr.join('')).toMatch(/error: no host key to verify for:\n {2}- w1 \(10\.0\.0\.2\): no entry\nNothing was changed\./);
    expect(w.nodes.patches).toEqual([]);
  });
});

describe('the config file and the command line', () => {
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('a missing or unparsable --config is a configuration error', () => {
    expect(() => loadConfigFile(join(dir, 'absent.yaml'))).toThrow(ConfigError);
    expect(() => loadConfigFile(file('bad.yaml', 'a: [1,\n'))).toThrow(/--config .*bad.yaml: not valid YAML or JSON/);
  });

  it.each([
    ['hex', 'concurrency: 0x10\n'],
    ['octal', 'concurrency: 0o10\n'],
    ['exponent', 'concurrency: 1e1\n'],
  ])('refuses a %s number in the file with the field', (_, text) => {
    expect(() => loadConfig({ file: loadConfigFile(file(`n-${text.length}-${text.charCodeAt(14)}.yaml`, text)) })).toThrow(/concurrency: .*got "/);
  });

  it('refuses such numbers in --set and the environment, takes plain ones', () => {
    expect(() => loadConfig({ sets: ['concurrency=0x10'] })).toThrow(/concurrency: .*got "0x10"/);
    expect(() => loadConfig({ env: { CRI_MIGRATOR_CONCURRENCY: '1e1' } })).toThrow(/concurrency/);
    expect(loadConfig({ sets: ['concurrency=10'] }).concurrency).toBe(10);
  });

  it('refuses a selector the engine could not parse, with the field', () => {
    expect(() => loadConfig({ sets: ['selector=!a=b'] })).toThrow(/selector: .*"!" only goes with a bare key/);
    expect(() => loadConfig({ sets: ['rollout.blockingPodSelector=!x=y'] })).toThrow(/rollout.blockingPodSelector/);
  });

  it('--context that does not exist says so and lists the contexts', () => {
    const kubeconfig = file(
      'kubeconfig',
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: prod, context: {cluster: c, user: u}}, {name: dev, context: {cluster: c, user: u}}]\ncurrent-context: prod\n',
    );
    expect(() => loadKubeConfig({ kubeconfig, context: 'nope' })).toThrow(new KubeconfigError('--context nope: no such context in the kubeconfig (it has: prod, dev)'));
    expect(loadKubeConfig({ kubeconfig, context: 'dev' }).getCurrentContext()).toBe('dev');
  });
});

describe('the controller outside the cluster', () => {
  it('names the missing namespace of its Lease instead of retrying forever', async () => {
    const notFound = Object.assign(new Error('namespaces "cri-migrator" not found'), { code: 404 });
    const api = {
      readNamespacedLease: async () => Promise.reject(notFound),
      createNamespacedLease: async () => Promise.reject(notFound),
    } as unknown as ConstructorParameters<typeof LeaseLock>[0];
    const lock = new LeaseLock(api, systemClock, { namespace: 'cri-migrator', name: 'cri-migrator', identity: 'me', leaseDurationSeconds: 15 });
    await expect(lock.tryAcquire()).rejects.toThrow(LeaseNamespaceMissingError);
    await expect(lock.tryAcquire()).rejects.toThrow(/create it \(kubectl create namespace cri-migrator\) or set leaderElection.namespace/);
  });
});
