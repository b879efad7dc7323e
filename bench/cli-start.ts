// How long the CLI takes to answer without the API server: --help and version (the Kubernetes
// client is loaded only by commands that talk to it). Peak RSS through /usr/bin/time -v.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stats } from './stats.js';

const MAIN = join(new URL('..', import.meta.url).pathname, 'dist/main.js');

function timed(args: string[]): { ms: number; peakMb: number } {
  const t = performance.now();
  const withTime = existsSync('/usr/bin/time');
  const r = withTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, MAIN, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`cri-migrator ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const kb = withTime ? Number(r.stderr.trim().split('\n').pop()) : Number.NaN;
  return { ms, peakMb: kb / 1024 };
}

export async function runCliStart(rounds: number) {
  const help: number[] = [];
  const version: number[] = [];
  let peak = 0;
  timed(['--help']); // the first run warms the file cache
  for (let i = 0; i < rounds; i++) {
    const h = timed(['--help']);
    help.push(h.ms);
    peak = Math.max(peak, h.peakMb);
    version.push(timed(['version']).ms);
  }
  return { helpMs: stats(help), versionMs: stats(version), helpPeakMb: peak };
}
