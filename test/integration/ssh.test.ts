// The SSH RemoteHost against a real OpenSSH server on 127.0.0.1, set up and torn down here:
// openssh-server (and sudo) are installed from Debian when missing, keys are generated in a
// temporary directory, and sshd runs in the foreground on a free port.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteCommandError } from '../../src/ports.js';
import { hostToken } from '../../src/remote/known-hosts.js';
import { HostUnreachableError } from '../../src/domain/errors.js';
import { SshRemoteHost, sshConnector, type SshTarget } from '../../src/remote/ssh.js';
import { defaultConfig } from '../../src/config.js';
import { makeNode } from '../unit/fakes.js';

const log = pino({ level: 'silent' });
let dir: string;
let port: number;
let sshd: ChildProcess | undefined;
let sshdLog = '';

function ensureInstalled(): void {
  const missing = [
    ['/usr/sbin/sshd', 'openssh-server'],
    ['/usr/bin/ssh-keygen', 'openssh-client'],
    ['/usr/bin/sudo', 'sudo'],
  ].filter(([path]) => !existsSync(path!));
  if (missing.length === 0) return;
  const packages = missing.map(([, pkg]) => pkg!);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, stdio: 'pipe' });
  } catch {
    // The package lists may be missing or stale on a fresh machine.
    execFileSync('apt-get', ['update'], { env, stdio: 'pipe' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, stdio: 'pipe' });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function keygen(path: string, type = 'ed25519'): void {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path]);
}

async function waitForPort(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (sshdLog.includes('Server listening')) return;
    if (sshd?.exitCode !== null) throw new Error(`sshd exited: ${sshdLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not start: ${sshdLog}`);
}

function target(overrides: Partial<SshTarget> = {}): SshTarget {
  return {
    host: '127.0.0.1',
    port,
    user: 'root',
    privateKeyPath: join(dir, 'client_key'),
    knownHostsPath: join(dir, 'known_hosts'),
    insecureAcceptNewHostKeys: false,
    sudo: false,
    connectTimeoutMs: 10_000,
    commandTimeoutMs: 10_000,
    ...overrides,
  };
}

beforeAll(async () => {
  ensureInstalled();
  dir = mkdtempSync(join(tmpdir(), 'cri-migrator-ssh-'));
  port = await freePort();
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'other_host_key'));
  keygen(join(dir, 'client_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
  const otherPub = readFileSync(join(dir, 'other_host_key.pub'), 'utf8').trim().split(/\s+/);
  writeFileSync(join(dir, 'known_hosts'), `${hostToken('127.0.0.1', port)} ${hostPub[0]} ${hostPub[1]}\n`);
  writeFileSync(join(dir, 'wrong_known_hosts'), `${hostToken('127.0.0.1', port)} ${otherPub[0]} ${otherPub[1]}\n`);
  writeFileSync(join(dir, 'other_port_known_hosts'), `127.0.0.1 ${hostPub[0]} ${hostPub[1]}\n`); // port 22 entry only
  writeFileSync(join(dir, 'empty_known_hosts'), '');
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory
  sshd = spawn(
    '/usr/sbin/sshd',
    [
      '-D', '-e', '-p', String(port), '-h', join(dir, 'host_key'),
      '-o', 'ListenAddress=127.0.0.1',
      '-o', `AuthorizedKeysFile=${join(dir, 'authorized_keys')}`,
      '-o', `PidFile=${join(dir, 'sshd.pid')}`,
      '-o', 'PermitRootLogin=prohibit-password',
      '-o', 'PasswordAuthentication=no',
      '-o', 'StrictModes=no',
      '-o', 'UsePAM=no',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  sshd.stderr!.on('data', (chunk: Buffer) => (sshdLog += chunk.toString()));
  await waitForPort();
}, 600_000);

afterAll(async () => {
  if (sshd && sshd.exitCode === null) {
    const exited = new Promise((r) => sshd!.once('exit', r));
    sshd.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SshRemoteHost against a real sshd', () => {
  it('returns exit code, stdout and stderr exactly', async () => {
    const host = new SshRemoteHost(target(), log);
    try {
      const result = await host.exec("printf 'out\\n  spaced  \\n'; echo err >&2; exit 7", { timeoutMs: 10_000, mutates: false });
      expect(result).toEqual({ code: 7, stdout: 'out\n  spaced  \n', stderr: 'err\n' });
      expect(await host.exec('cat', { timeoutMs: 10_000, mutates: false, stdin: 'from stdin' })).toMatchObject({ code: 0, stdout: 'from stdin' });
      expect(await host.exec("echo \"it's $((1+1))\"", { timeoutMs: 10_000, mutates: false })).toMatchObject({ stdout: "it's 2\n" });
    } finally {
      await host.close();
    }
  });

  it('commands started at once before any connection share the one it opens, each on its own channel', async () => {
    const host = new SshRemoteHost(target(), log);
    try {
      // $SSH_CONNECTION names the client's port: one connection, one port. Each command waits for
      // the other's mark, so they can only both end if they run at the same time.
      const mark = join(dir, `both-${process.pid}`);
      rmSync(`${mark}.a`, { force: true });
      rmSync(`${mark}.b`, { force: true });
      const run = (me: string, other: string) =>
        host.exec(`touch ${mark}.${me}; i=0; while [ ! -e ${mark}.${other} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -e ${mark}.${other} ] && echo "$SSH_CONNECTION"`, { timeoutMs: 10_000, mutates: false });
      const [a, b] = await Promise.all([run('a', 'b'), run('b', 'a')]);
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      expect(a.stdout.split(' ')[1]).toMatch(/^\d+$/);
      expect(a.stdout).toBe(b.stdout);
    } finally {
      await host.close();
    }
  });

  it('runs through sudo -n when asked', async () => {
    const host = new SshRemoteHost(target({ sudo: true }), log);
    try {
      expect(host.wrap('id -u', 1000)).toBe("sudo -n timeout -k 5 1 sh -c 'id -u'");
      expect(await host.exec('id -u', { timeoutMs: 10_000, mutates: false })).toMatchObject({ code: 0, stdout: '0\n' });
    } finally {
      await host.close();
    }
  });

  it('stops a command at its time limit and says so', async () => {
    const host = new SshRemoteHost(target(), log);
    try {
      const started = Date.now();
      const error = await host.exec('echo started >&2; sleep 30', { timeoutMs: 1_000, mutates: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteCommandError);
      expect((error as Error).message).toMatch(/timed out after 1000ms: started/);
      expect(Date.now() - started).toBeLessThan(8_000);
      // The connection is still usable afterwards.
      expect(await host.exec('echo ok', { timeoutMs: 5_000, mutates: false })).toMatchObject({ code: 0, stdout: 'ok\n' });
    } finally {
      await host.close();
    }
  });

  it('writes files atomically with their mode and reads them back; absent files read as null', async () => {
    const host = new SshRemoteHost(target(), log);
    const path = join(dir, 'etc', 'containerd', 'config.toml');
    try {
      expect(await host.readFile(path)).toBeNull();
      await host.writeFile(path, 'version = 2\n', { mode: 0o600 });
      expect(readFileSync(path, 'utf8')).toBe('version = 2\n');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const inode = statSync(path).ino;
      await host.writeFile(path, 'version = 2\n# second\n', { mode: 0o644 });
      expect(await host.readFile(path)).toBe('version = 2\n# second\n');
      expect(statSync(path).mode & 0o777).toBe(0o644);
      // Replaced by rename, not rewritten in place, and no temporary file left behind.
      expect(statSync(path).ino).not.toBe(inode);
      expect(execFileSync('ls', ['-A', join(dir, 'etc', 'containerd')], { encoding: 'utf8' }).trim()).toBe('config.toml');
    } finally {
      await host.close();
    }
  });

  it('surfaces a failing write with stderr', async () => {
    const host = new SshRemoteHost(target(), log);
    try {
      writeFileSync(join(dir, 'not-a-dir'), '');
      await expect(host.writeFile(join(dir, 'not-a-dir', 'x'), 'x', { mode: 0o644 })).rejects.toThrow(
        /writing .*not-a-dir\/x on root@127\.0\.0\.1:\d+ failed \(exit 1\): mkdir: cannot create directory .*File exists/,
      );
    } finally {
      await host.close();
    }
  });

  it.each([
    ['unknown host (empty known_hosts)', 'empty_known_hosts', /is not in .*empty_known_hosts: add it \(ssh-keyscan -p \d+ 127\.0\.0\.1/],
    ['host known only on port 22', 'other_port_known_hosts', /is not in .*other_port_known_hosts/],
    ['mismatching host key', 'wrong_known_hosts', /host key mismatch for 127\.0\.0\.1:\d+: it presented SHA256:\S+ but .* expects SHA256:/],
  ])('rejects an %s, as a host that cannot be reached (retried, never trusted)', async (_, file, message) => {
    const host = new SshRemoteHost(target({ knownHostsPath: join(dir, file) }), log);
    const err = await host.exec('true', { timeoutMs: 5_000, mutates: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect((err as Error).message).toMatch(message);
    await host.close();
  });

  it('a refused connection and a connection that breaks mid-command are HostUnreachableError', async () => {
    const refused = new SshRemoteHost(target({ port: 9 }), log);
    await expect(refused.exec('true', { timeoutMs: 5_000, mutates: false })).rejects.toBeInstanceOf(HostUnreachableError);
    const host = new SshRemoteHost(target(), log);
    // Kill this connection's own sshd process while the command runs: the connection drops mid-command.
    const killOwnSshd = 'p=$$; while [ "$p" -gt 1 ]; do if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -9 "$p"; break; fi; p=$(awk \'{print $4}\' /proc/$p/stat); done; sleep 5';
    const err = await host.exec(killOwnSshd, { timeoutMs: 20_000, mutates: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect((err as Error).message).toMatch(/broke while a command ran|connection/);
    // The next command opens a new connection.
    expect((await host.exec('echo again', { timeoutMs: 5_000, mutates: false })).stdout).toBe('again\n');
    await host.close();
  });

  it('a connection reset while it sits idle between steps is dropped, not a crash: the next command connects again', async () => {
    // A TCP proxy in front of sshd, whose client side is reset (RST: ECONNRESET on our end), as a
    // node that loses power resets the connection a migration keeps open between its steps.
    const sockets: Socket[] = [];
    const proxy = createServer((client) => {
      sockets.push(client);
      const upstream = connect(port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
    writeFileSync(join(dir, 'proxy_known_hosts'), `${hostToken('127.0.0.1', proxyPort)} ${hostPub[0]} ${hostPub[1]}\n`);
    const host = new SshRemoteHost(target({ port: proxyPort, knownHostsPath: join(dir, 'proxy_known_hosts') }), log);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      expect((await host.exec('echo one', { timeoutMs: 5_000, mutates: false })).stdout).toBe('one\n');
      expect(sockets).toHaveLength(1);
      sockets[0]!.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 500));
      expect(uncaught).toEqual([]);
      expect((await host.exec('echo two', { timeoutMs: 5_000, mutates: false })).stdout).toBe('two\n');
      expect(sockets).toHaveLength(2); // a new connection
    } finally {
      process.off('uncaughtException', onUncaught);
      await host.close();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('accepts an unknown key only with trust-on-first-use, and then pins it', async () => {
    const firstUse = new Map<string, string>();
    const host = new SshRemoteHost(target({ knownHostsPath: join(dir, 'empty_known_hosts'), insecureAcceptNewHostKeys: true }), log, firstUse);
    try {
      expect(await host.exec('echo hi', { timeoutMs: 5_000, mutates: false })).toMatchObject({ stdout: 'hi\n' });
    } finally {
      await host.close();
    }
    expect(firstUse.size).toBe(1);
    // A different key for the same host is still refused, even with trust-on-first-use.
    const mismatch = new SshRemoteHost(target({ knownHostsPath: join(dir, 'wrong_known_hosts'), insecureAcceptNewHostKeys: true }), log);
    await expect(mismatch.exec('true', { timeoutMs: 5_000, mutates: false })).rejects.toThrow(/host key mismatch/);
    await mismatch.close();
    // The key pinned on first use is enforced for later connections.
    firstUse.set(`127.0.0.1:${port}`, readFileSync(join(dir, 'other_host_key.pub'), 'utf8').split(/\s+/)[1]!);
    const pinned = new SshRemoteHost(target({ knownHostsPath: join(dir, 'empty_known_hosts'), insecureAcceptNewHostKeys: true }), log, firstUse);
    await expect(pinned.exec('true', { timeoutMs: 5_000, mutates: false })).rejects.toThrow(/host key mismatch/);
    await pinned.close();
  });

  it('names the key file when the private key is unreadable, without leaking it', async () => {
    const host = new SshRemoteHost(target({ privateKeyPath: join(dir, 'missing_key') }), log);
    await expect(host.exec('true', { timeoutMs: 5_000, mutates: false })).rejects.toThrow(/cannot read the SSH private key .*missing_key \(ssh\.privateKeyPath\)/);
  });

  it('one connection per node across the steps of a migration: given back, reused, dropped by a cancel, closed when idle', async () => {
    const base = defaultConfig();
    const config = { ...base, ssh: { ...base.ssh, port, privateKeyPath: join(dir, 'client_key'), knownHostsPath: join(dir, 'known_hosts') } };
    const connect = sshConnector(config, log, 300);
    const node = makeNode({ name: 'w1', addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] });
    // $SSH_CONNECTION names the client's port: the same port is the same connection.
    const connection = async (h: { exec: SshRemoteHost['exec'] }) => (await h.exec('echo $SSH_CONNECTION', { timeoutMs: 5_000, mutates: false })).stdout;
    const first = await connect(node);
    const a = await connection(first);
    await first.close();
    const second = await connect(node);
    expect(await connection(second)).toBe(a);
    // A cancel (closed while a command runs) drops the connection under the command.
    const running = second.exec('sleep 5', { timeoutMs: 10_000, mutates: false });
    await new Promise((r) => setTimeout(r, 200));
    await second.close();
    await expect(running).rejects.toThrow(HostUnreachableError);
    const third = await connect(node);
    const b = await connection(third);
    expect(b).not.toBe(a);
    await third.close();
    // Unused for longer than the idle time: closed, and the next step opens a new one.
    await new Promise((r) => setTimeout(r, 600));
    const fourth = await connect(node);
    expect(await connection(fourth)).not.toBe(b);
    await fourth.close();
  });
});
