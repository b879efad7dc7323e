// known_hosts matching for host-key pinning (OpenSSH format): plain and hashed (|1|salt|hash)
// host patterns, [host]:port for non-default ports, @revoked markers. @cert-authority lines are
// ignored: node host certificates are not supported.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  /** base64 of the key blob, as in the file. */
  key: string;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) continue;
    entries.push({ ...(marker ? { marker } : {}), patterns: hosts.split(','), keyType, key });
  }
  return entries;
}

/** How a host appears in known_hosts: "host" on port 22, "[host]:port" otherwise. */
export function hostToken(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function patternMatches(pattern: string, token: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash;
  }
  return globToRegExp(pattern).test(token);
}

export function entryMatchesHost(entry: KnownHostEntry, token: string): boolean {
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), token)) return false;
    } else if (patternMatches(pattern, token)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict =
  | { kind: 'trusted' }
  | { kind: 'unknown'; fingerprint: string }
  | { kind: 'mismatch'; fingerprint: string; expected: string[] }
  | { kind: 'revoked'; fingerprint: string };

/** SHA256:... as `ssh-keygen -lf` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export function verifyHostKey(entries: readonly KnownHostEntry[], host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const token = hostToken(host, port);
  const presented = keyBlob.toString('base64');
  const print = fingerprint(keyBlob);
  if (entries.some((e) => e.marker === '@revoked' && e.key === presented)) return { kind: 'revoked', fingerprint: print };
  const forHost = entries.filter((e) => e.marker === undefined && entryMatchesHost(e, token));
  if (forHost.length === 0) return { kind: 'unknown', fingerprint: print };
  if (forHost.some((e) => e.key === presented)) return { kind: 'trusted' };
  return { kind: 'mismatch', fingerprint: print, expected: forHost.map((e) => fingerprint(Buffer.from(e.key, 'base64'))) };
}
