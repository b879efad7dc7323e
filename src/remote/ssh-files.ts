// Start-up checks of the SSH files, before anything talks to the API server or changes a node: the
// private key is readable, parseable and not passphrase-protected (nothing could type it), and
// known_hosts is readable and names every node about to be touched.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { Config } from '../config.js';
import type { NodeView } from '../domain/types.js';
import { entryMatchesHost, hostToken, parseKnownHosts, type KnownHostEntry } from './known-hosts.js';
import { nodeAddress } from './ssh.js';

function readable(path: string, field: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    problems.push(`${field} ${path}: cannot read it (${why}). Fix: point ${field} at the file (mounted from the Secret in the cluster) or fix its permissions.`);
    return undefined;
  }
}

/** Problems with ssh.privateKeyPath and ssh.knownHostsPath (empty when fine), and the known_hosts entries. */
export function checkSshFiles(ssh: Config['ssh']): { problems: string[]; knownHosts: KnownHostEntry[] | undefined } {
  const problems: string[] = [];
  const key = readable(ssh.privateKeyPath, 'ssh.privateKeyPath', problems);
  if (key !== undefined) {
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error) {
      const encrypted = /passphrase|encrypted/i.test(parsed.message);
      problems.push(
        encrypted
          ? `ssh.privateKeyPath ${ssh.privateKeyPath}: the key is protected by a passphrase, which nothing here can type. Fix: use a key without one (e.g. ssh-keygen -p -N '' -f KEY on a copy), kept in a Secret.`
          : `ssh.privateKeyPath ${ssh.privateKeyPath}: not a private key cri-migrator can use (${parsed.message}). Fix: an OpenSSH or PEM private key (ed25519, ecdsa or rsa).`,
      );
    }
  }
  let knownHosts: KnownHostEntry[] | undefined;
  if (!ssh.insecureAcceptNewHostKeys) {
    const text = readable(ssh.knownHostsPath, 'ssh.knownHostsPath', problems);
    if (text !== undefined) knownHosts = parseKnownHosts(text);
  }
  return { problems, knownHosts };
}

/** The nodes known_hosts has no entry for, each with the address that was looked up. */
export function nodesWithoutHostKey(entries: readonly KnownHostEntry[], nodes: readonly NodeView[], ssh: Config['ssh']): string[] {
  const missing: string[] = [];
  for (const node of nodes) {
    let address: string;
    try {
      address = nodeAddress(node, ssh.addressType);
    } catch (err) {
      missing.push((err as Error).message);
      continue;
    }
    const token = hostToken(address, ssh.port);
    if (!entries.some((e) => e.marker === undefined && entryMatchesHost(e, token))) {
      missing.push(`${node.name} (${token}): no entry in ${ssh.knownHostsPath}; add the node's host key read out of band (e.g. ssh-keyscan from a trusted network, then check the fingerprint)`);
    }
  }
  return missing;
}
