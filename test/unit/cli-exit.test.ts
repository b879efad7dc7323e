// The process's exit codes and messages, through the real entry point (src/main.ts under tsx).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A kubeconfig pointing at a port where nothing listens. */
function deadKubeconfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'crim-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`,
  );
  return path;
}

describe.concurrent('cli: exit codes', { timeout: 120_000 }, () => {
  it('--help: 0 and the command list on stdout', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('commands:');
    expect(r.stdout).toMatch(/plan\s+show what migrating the nodes would do/);
  });

  it('bad usage: 2, the error and the command help on stderr', async () => {
    const r = await cli(['plan']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: plan needs at least one NODE name/);
    expect(r.stderr).toContain('usage: cri-migrator plan NODE...');
  });

  it('a bad config value: 2, with the field and the fix', async () => {
    const r = await cli(['status', '--set', 'concurrency=0', '--kubeconfig', deadKubeconfig()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/concurrency: .*Fix: correct it in --set concurrency=0/);
  });

  it('bad input is refused at start-up with exit 2, before the API server is contacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crim-'));
    const garbage = join(dir, 'key');
    writeFileSync(garbage, 'not a key\n');
    const cases: [string[], RegExp][] = [
      [['plan', 'w1', '--set', `ssh.privateKeyPath=${join(dir, 'nope')}`], /ssh.privateKeyPath .*nope: cannot read it \(no such file\)/],
      [['migrate', 'w1', '--set', `ssh.privateKeyPath=${garbage}`], /ssh.privateKeyPath .*key: not a private key cri-migrator can use/],
      [['status', '--config', join(dir, 'missing.yaml')], /--config .*missing.yaml: cannot read it \(no such file\)/],
      [['status', '--set', 'concurrency=0x10'], /concurrency: .*got "0x10"/],
      [['status', '--set', 'selector=!a=b'], /selector: .*"!" only goes with a bare key/],
      [['status', '--context', 'nope'], /--context nope: no such context in the kubeconfig \(it has: dead\)/],
    ];
    for (const [args, message] of cases) {
      const r = await cli([...args, '--kubeconfig', deadKubeconfig()]);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:9/);
    }
  });

  it('warns about a selector that matches every node', async () => {
    const r = await cli(['status', '--set', 'selector=!cri-migrator.dev/skip', '--kubeconfig', deadKubeconfig()]);
    expect(r.stderr).toMatch(/^warning: selector "!cri-migrator.dev\/skip" has no key=value or key term/);
  });

  it('an unreachable cluster: 1, and says what to check', async () => {
    const r = await cli(['status', '--kubeconfig', deadKubeconfig()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: listing nodes failed: .*ECONNREFUSED/);
    expect(r.stderr).toContain('--kubeconfig/--context');
  });
});
