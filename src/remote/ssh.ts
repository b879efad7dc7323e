// RemoteHost over SSH (node-ssh): host key pinned to known_hosts, commands as root or through
// `sudo -n`, a time limit on connecting and on every command (enforced on the node by coreutils
// `timeout` and locally by closing the channel), exit codes and stderr returned, secrets kept out
// of logs and errors.
import { readFile } from 'node:fs/promises';
import { NodeSSH } from 'node-ssh';
import type { Config } from '../config.js';
import type { NodeView } from '../domain/types.js';
import { redactText, type Logger } from '../log.js';
import { HostUnreachableError, RemoteCommandError, type ExecOptions, type ExecResult, type RemoteConnector, type RemoteHost, type WriteFileOptions } from '../ports.js';
import { shQuote } from '../host/shell.js';
import { parseKnownHosts, verifyHostKey, type KnownHostEntry } from './known-hosts.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  knownHostsPath: string;
  insecureAcceptNewHostKeys: boolean;
  sudo: boolean;
  connectTimeoutMs: number;
  /** Limit for readFile and writeFile. */
  commandTimeoutMs: number;
}

/** Exit code coreutils `timeout` uses when it had to stop the command. */
const TIMEOUT_EXIT = 124;
/** readFile's "no such file" exit code. */
const ABSENT_EXIT = 3;

/** Keys accepted on first use in this process (insecureAcceptNewHostKeys), per host token. */
export type TrustOnFirstUse = Map<string, string>;

export class SshRemoteHost implements RemoteHost {
  readonly target: string;
  private ssh: NodeSSH | undefined;

  constructor(
    private readonly config: SshTarget,
    private readonly log: Logger,
    private readonly firstUse: TrustOnFirstUse = new Map(),
  ) {
    this.target = `${config.user}@${config.host}:${config.port}`;
  }

  /** The connection being opened: commands started at once (gatherFacts' two) share it. */
  private opening: Promise<void> | undefined;

  async connect(): Promise<void> {
    if (this.ssh?.isConnected()) return;
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<void> {
    let privateKey: string;
    try {
      privateKey = await readFile(this.config.privateKeyPath, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the SSH private key ${this.config.privateKeyPath} (ssh.privateKeyPath)`, { cause: err });
    }
    let knownHosts: KnownHostEntry[];
    try {
      knownHosts = parseKnownHosts(await readFile(this.config.knownHostsPath, 'utf8'));
    } catch (err) {
      if (!this.config.insecureAcceptNewHostKeys) {
        throw new Error(`cannot read known_hosts ${this.config.knownHostsPath} (ssh.knownHostsPath): host keys cannot be verified`, { cause: err });
      }
      knownHosts = [];
    }
    let rejection: string | undefined;
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: this.config.host,
        port: this.config.port,
        username: this.config.user,
        privateKey,
        readyTimeout: this.config.connectTimeoutMs,
        // A connection kept between steps that died without a word is found out within 45 s.
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          rejection = this.checkHostKey(knownHosts, key);
          return rejection === undefined;
        },
      });
    } catch (err) {
      ssh.dispose();
      const reason = rejection ?? redactText((err as Error).message);
      // Refused, timed out, or a host key we do not trust: nothing ran on the node. Retried until
      // it answers with the right key; a wrong key is never accepted.
      throw new HostUnreachableError(`SSH connection to ${this.target} failed: ${reason}`, { cause: err });
    }
    // node-ssh listens for the connection's errors only while connecting. Later ones (the node
    // reset the connection: a power loss, sshd killed), while it sits idle between steps or under
    // a command, would be an unhandled 'error' event, which ends the process: the connection is
    // dropped instead, a command under it fails as HostUnreachableError, the next connects again.
    ssh.connection?.on('error', (err: Error) => {
      this.log.warn({ target: this.target, err: redactText(err.message) }, 'the SSH connection failed; dropped');
      if (this.ssh === ssh) this.ssh = undefined;
      ssh.dispose();
    });
    this.ssh = ssh;
  }

  /** undefined when the key is acceptable, else why not. */
  private checkHostKey(knownHosts: readonly KnownHostEntry[], key: Buffer): string | undefined {
    const { host, port } = this.config;
    const pinned = this.firstUse.get(`${host}:${port}`);
    const verdict = pinned
      ? verifyHostKey([{ patterns: [port === 22 ? host : `[${host}]:${port}`], keyType: 'pinned', key: pinned }, ...knownHosts], host, port, key)
      : verifyHostKey(knownHosts, host, port, key);
    switch (verdict.kind) {
      case 'trusted':
        return undefined;
      case 'revoked':
        return `host key ${verdict.fingerprint} of ${host} is marked @revoked in ${this.config.knownHostsPath}`;
      case 'mismatch':
        return (
          `host key mismatch for ${host}:${port}: it presented ${verdict.fingerprint} but ${this.config.knownHostsPath} ` +
          `expects ${verdict.expected.join(' or ')}. Possible man-in-the-middle; if the node was reinstalled, update known_hosts`
        );
      case 'unknown':
        if (this.config.insecureAcceptNewHostKeys) {
          this.log.warn({ host, port, fingerprint: verdict.fingerprint }, 'accepting an unknown host key (ssh.insecureAcceptNewHostKeys)');
          this.firstUse.set(`${host}:${port}`, key.toString('base64'));
          return undefined;
        }
        return (
          `host ${host}:${port} (key ${verdict.fingerprint}) is not in ${this.config.knownHostsPath}: ` +
          `add it (ssh-keyscan -p ${port} ${host}, then verify the fingerprint) or set ssh.insecureAcceptNewHostKeys`
        );
    }
  }

  /** The command as it runs on the node: under sudo when configured, always under a time limit. */
  wrap(command: string, timeoutMs: number): string {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const limited = `timeout -k 5 ${seconds} sh -c ${shQuote(command)}`;
    return this.config.sudo ? `sudo -n ${limited}` : limited;
  }

  async exec(command: string, options: ExecOptions): Promise<ExecResult> {
    await this.connect();
    const ssh = this.ssh!;
    const log = this.log.child({ target: this.target });
    log.debug({ command: redactText(command.length > 300 ? `${command.slice(0, 300)}...` : command), mutates: options.mutates }, 'exec');
    let channel: { close(): void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    // The remote `timeout` should fire first; this is the backstop for a hung connection.
    const localLimit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        channel?.close();
        reject(new HostUnreachableError(`command on ${this.target} did not finish within ${options.timeoutMs + 10_000}ms: the connection hung`));
      }, options.timeoutMs + 10_000);
    });
    try {
      const response = await Promise.race([
        ssh.execCommand(this.wrap(command, options.timeoutMs), {
          noTrim: true,
          ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
          onChannel: (c) => (channel = c),
        }),
        localLimit,
      ]);
      const result: ExecResult = { code: response.code ?? -1, stdout: response.stdout, stderr: response.stderr };
      if (result.code === TIMEOUT_EXIT) {
        throw new RemoteCommandError(
          `command on ${this.target} timed out after ${options.timeoutMs}ms: ${redactText(result.stderr.trim()) || 'no output'}`,
          { ...result, stderr: redactText(result.stderr) },
        );
      }
      if (response.code === null && !response.signal) {
        // No exit status and no signal: the channel closed under the command (sshd or the node went away).
        this.ssh = undefined;
        ssh.dispose();
        throw new HostUnreachableError(`the SSH connection to ${this.target} broke while a command ran (no exit status)`);
      }
      if (response.code === null) {
        throw new RemoteCommandError(`command on ${this.target} was killed by signal ${response.signal}`, result);
      }
      log.debug({ code: result.code }, 'exec done');
      return result;
    } catch (err) {
      if (err instanceof RemoteCommandError || err instanceof HostUnreachableError) throw err;
      // The connection went away mid-command (sshd stopped, the node lost power): the step's checks
      // find out on the next attempt what had been done.
      this.ssh = undefined;
      ssh.dispose();
      throw new HostUnreachableError(`the SSH connection to ${this.target} broke while a command ran: ${redactText((err as Error).message)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async readFile(path: string): Promise<string | null> {
    const result = await this.exec(`[ -e ${shQuote(path)} ] || exit ${ABSENT_EXIT}; cat -- ${shQuote(path)}`, { timeoutMs: this.config.commandTimeoutMs, mutates: false });
    if (result.code === ABSENT_EXIT) return null;
    if (result.code !== 0) {
      throw new RemoteCommandError(`reading ${path} on ${this.target} failed (exit ${result.code}): ${redactText(result.stderr.trim())}`, result);
    }
    return result.stdout;
  }

  async writeFile(path: string, content: string, options: WriteFileOptions): Promise<void> {
    const mode = options.mode.toString(8).padStart(4, '0');
    // Write a temporary file next to the target and rename it over: readers never see half a file.
    const script = [
      'set -e',
      `p=${shQuote(path)}`,
      'd=$(dirname "$p")',
      'mkdir -p "$d"',
      't=$(mktemp "$d/.cri-migrator.XXXXXX")',
      'trap \'rm -f "$t"\' EXIT',
      'cat > "$t"',
      `chmod ${mode} "$t"`,
      'mv -f "$t" "$p"',
    ].join('\n');
    const result = await this.exec(script, { timeoutMs: this.config.commandTimeoutMs, mutates: true, stdin: content });
    if (result.code !== 0) {
      throw new RemoteCommandError(`writing ${path} on ${this.target} failed (exit ${result.code}): ${redactText(result.stderr.trim())}`, result);
    }
  }

  async close(): Promise<void> {
    this.ssh?.dispose();
    this.ssh = undefined;
  }
}

export function nodeAddress(node: NodeView, type: Config['ssh']['addressType']): string {
  const address = node.addresses.find((a) => a.type === type)?.address;
  if (!address) {
    const have = node.addresses.map((a) => `${a.type}=${a.address}`).join(', ') || 'none';
    throw new Error(`node ${node.name} has no ${type} address (has: ${have}); set ssh.addressType`);
  }
  return address;
}

/** How long a node's connection stays open with nothing using it (between the steps of one migration). */
export const SSH_IDLE_MS = 120_000;

/**
 * A shared connection lent to one action. Closing it gives it back (kept open for the node's next
 * step); closing it while a command runs is a cancel, and drops the connection under the command.
 */
class LentHost implements RemoteHost {
  private inFlight = 0;

  constructor(
    private readonly shared: SshRemoteHost,
    private readonly giveBack: (broken: boolean) => void,
  ) {}

  get target(): string {
    return this.shared.target;
  }

  private async track<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await work();
    } finally {
      this.inFlight--;
    }
  }

  exec(command: string, options: ExecOptions): Promise<ExecResult> {
    return this.track(() => this.shared.exec(command, options));
  }

  readFile(path: string): Promise<string | null> {
    return this.track(() => this.shared.readFile(path));
  }

  writeFile(path: string, content: string, options: WriteFileOptions): Promise<void> {
    return this.track(() => this.shared.writeFile(path, content, options));
  }

  async close(): Promise<void> {
    this.giveBack(this.inFlight > 0);
  }
}

interface PooledConnection {
  host: SshRemoteHost;
  lent: number;
  idle?: NodeJS.Timeout;
}

/**
 * Connector used by the engine: one SSH connection per node, shared by the steps of its migration
 * (opened again if it was lost), closed after SSH_IDLE_MS unused; keys accepted on first use
 * remembered.
 */
export function sshConnector(config: Config, log: Logger, idleMs = SSH_IDLE_MS): RemoteConnector {
  const firstUse: TrustOnFirstUse = new Map();
  const pool = new Map<string, PooledConnection>();
  return async (node) => {
    const address = nodeAddress(node, config.ssh.addressType);
    const key = `${node.name} ${address}`;
    let entry = pool.get(key);
    if (!entry) {
      entry = {
        lent: 0,
        host: new SshRemoteHost(
          {
            host: address,
            port: config.ssh.port,
            user: config.ssh.user,
            privateKeyPath: config.ssh.privateKeyPath,
            knownHostsPath: config.ssh.knownHostsPath,
            insecureAcceptNewHostKeys: config.ssh.insecureAcceptNewHostKeys,
            sudo: config.ssh.sudo,
            connectTimeoutMs: config.ssh.connectTimeoutSeconds * 1000,
            commandTimeoutMs: config.ssh.commandTimeoutSeconds * 1000,
          },
          log.child({ node: node.name }),
          firstUse,
        ),
      };
      pool.set(key, entry);
    }
    const held = entry;
    clearTimeout(held.idle);
    held.idle = undefined;
    held.lent++;
    try {
      await held.host.connect();
    } catch (err) {
      held.lent--;
      if (held.lent === 0) pool.delete(key);
      throw err;
    }
    let returned = false;
    return new LentHost(held.host, (broken) => {
      if (broken) void held.host.close();
      if (returned) return;
      returned = true;
      held.lent--;
      if (held.lent > 0) return;
      held.idle = setTimeout(() => {
        if (held.lent > 0) return;
        pool.delete(key);
        void held.host.close();
      }, idleMs);
      held.idle.unref();
    });
  };
}
