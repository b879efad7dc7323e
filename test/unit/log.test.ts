import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, nodeLogger, redactText } from '../../src/log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { lines, stream };
}

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';

describe('logging', () => {
  it('puts the node name on every line of a node logger', () => {
    const { lines, stream } = capture();
    const log = nodeLogger(createLogger({ level: 'info' }, stream), 'w1');
    log.info('cordoned');
    log.child({ step: 'backup-files' }).warn('slow');
    expect(lines.map((l) => l['node'])).toEqual(['w1', 'w1']);
  });

  it('redacts secret fields and secrets inside free text', () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'info' }, stream);
    log.info({ privateKey: KEY, ssh: { password: 'hunter2' }, token: 'abc' }, 'connecting');
    log.warn({ stderr: `oops ${KEY} and token=s3cr3t via http://user:pa55@proxy:3128` }, 'remote failed');
    log.error({ err: new Error(`cannot use key ${KEY}`) }, 'failed');
    const text = JSON.stringify(lines);
    for (const secret of ['b3BlbnNzaC1rZXktdjEAAAAA', 'hunter2', 's3cr3t', 'pa55', '"abc"']) expect(text).not.toContain(secret);
    expect(text).toContain('[REDACTED');
    expect(lines[1]!['stderr']).toContain('http://user:[REDACTED]@proxy:3128');
  });

  it('leaves ordinary text alone', () => {
    expect(redactText('step restart-containerd failed (exit 1): Job failed')).toBe('step restart-containerd failed (exit 1): Job failed');
    expect(redactText('Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Ij')).toBe('Authorization: Bearer [REDACTED]');
  });
});
