import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprint, hostToken, parseKnownHosts, verifyHostKey } from '../../src/remote/known-hosts.js';

const keyA = randomBytes(51);
const keyB = randomBytes(51);
const b64 = (k: Buffer) => k.toString('base64');
function hashed(token: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(token).digest('base64')}`;
}

describe('known_hosts verification', () => {
  it.each<[string, string, string, number, Buffer, string]>([
    ['plain entry', `node1 ssh-ed25519 ${b64(keyA)}`, 'node1', 22, keyA, 'trusted'],
    ['one of several names', `node1,10.0.0.5 ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 22, keyA, 'trusted'],
    ['non-default port needs [host]:port', `10.0.0.5 ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 2222, keyA, 'unknown'],
    ['[host]:port entry', `[10.0.0.5]:2222 ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 2222, keyA, 'trusted'],
    ['hashed entry', `${hashed('10.0.0.5')} ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 22, keyA, 'trusted'],
    ['hashed [host]:port entry', `${hashed('[10.0.0.5]:2222')} ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 2222, keyA, 'trusted'],
    ['wildcard', `10.0.0.* ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 22, keyA, 'trusted'],
    ['negated wildcard', `10.0.0.*,!10.0.0.5 ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 22, keyA, 'unknown'],
    ['dots are not wildcards', `10a0b0c5 ssh-ed25519 ${b64(keyA)}`, '10.0.0.5', 22, keyA, 'unknown'],
    ['other key for the host', `node1 ssh-ed25519 ${b64(keyA)}`, 'node1', 22, keyB, 'mismatch'],
    ['revoked key', `@revoked * ssh-ed25519 ${b64(keyA)}\nnode1 ssh-ed25519 ${b64(keyA)}`, 'node1', 22, keyA, 'revoked'],
    ['cert-authority lines are not host keys', `@cert-authority * ssh-ed25519 ${b64(keyA)}`, 'node1', 22, keyA, 'unknown'],
    ['comments and blank lines', `# comment\n\nnode1 ssh-ed25519 ${b64(keyA)} user@laptop`, 'node1', 22, keyA, 'trusted'],
  ])('%s', (_, file, host, port, key, expected) => {
    expect(verifyHostKey(parseKnownHosts(file), host, port, key).kind).toBe(expected);
  });

  it('reports fingerprints like ssh-keygen', () => {
    const verdict = verifyHostKey(parseKnownHosts(`node1 ssh-ed25519 ${b64(keyA)}`), 'node1', 22, keyB);
    expect(verdict).toEqual({ kind: 'mismatch', fingerprint: fingerprint(keyB), expected: [fingerprint(keyA)] });
    expect(fingerprint(keyA)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(hostToken('h', 22)).toBe('h');
    expect(hostToken('h', 2022)).toBe('[h]:2022');
  });
});
