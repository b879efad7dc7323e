// The proxy drop-in as systemd itself parses it (systemd-analyze verify, offline): the values are
// accepted, where the unescaped "%40" makes systemd ignore the line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderProxyDropIn } from '../../src/host/systemd-unit.js';

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

function verify(serviceLines: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'crim-unit-'));
  try {
    const unit = join(dir, 'crim-proxy-check.service');
    writeFileSync(unit, `[Unit]\nDescription=check\n${serviceLines.replace('[Service]', '[Service]\nExecStart=/bin/true')}`);
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!analyze)(`proxy drop-in parsed by systemd${analyze ? '' : ' (skipped: no systemd-analyze)'}`, () => {
  it('accepts every line of the drop-in, credentials with %40 and quotes included', () => {
    const dropIn = renderProxyDropIn({ httpProxy: 'http://user:p%40ss@proxy:3128', httpsProxy: 'http://proxy:3128/a"b\\c', noProxy: '.svc,10.0.0.0/8' })!;
    expect(verify(dropIn.content)).not.toMatch(/Failed to resolve specifiers|ignoring|Invalid/i);
  });

  it('would ignore the unescaped line (what cri-migrator wrote before)', () => {
    expect(verify('[Service]\nEnvironment="HTTP_PROXY=http://user:p%40ss@proxy:3128"\n')).toMatch(/Failed to resolve specifiers/);
  });
});
