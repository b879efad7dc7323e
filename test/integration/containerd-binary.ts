// Runs a real containerd with a config we generated, in a scratch directory, and reports what it
// said about the config. The copy only moves the paths containerd would touch (root, state,
// sockets, /opt) into the scratch directory; everything else is the generated file as written.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify, type TomlTable } from 'smol-toml';

export interface BootReport {
  booted: boolean;
  /** Log lines at level warning, error or fatal. */
  problems: string[];
  log: string;
}

function ensure(parent: TomlTable, key: string): TomlTable {
  const v = parent[key];
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)) return v as TomlTable;
  const t: TomlTable = {};
  parent[key] = t;
  return t;
}

/** The generated config with every path containerd writes to moved under dir. */
export function scratchCopy(content: string, dir: string): string {
  const config = parse(content);
  config['root'] = join(dir, 'root');
  config['state'] = join(dir, 'state');
  const sock = join(dir, 'containerd.sock');
  const plugins = ensure(config, 'plugins');
  if (config['version'] === 4) {
    ensure(plugins, 'io.containerd.server.v1.grpc')['address'] = sock;
    ensure(plugins, 'io.containerd.server.v1.ttrpc')['address'] = `${sock}.ttrpc`;
  } else {
    ensure(config, 'grpc')['address'] = sock;
    ensure(config, 'ttrpc')['address'] = `${sock}.ttrpc`;
  }
  ensure(plugins, 'io.containerd.internal.v1.opt')['path'] = join(dir, 'opt');
  // NRI listens on /var/run/nri/nri.sock by default (containerd 1.7+).
  if (config['version'] !== 2 || 'io.containerd.nri.v1.nri' in plugins) ensure(plugins, 'io.containerd.nri.v1.nri')['disable'] = true;
  config['imports'] = [];
  return stringify(config);
}

/** Start containerd with the config, wait for it to boot (or exit), stop it, and return its warnings. */
export async function bootWithConfig(binary: string, content: string, timeoutMs = 30_000): Promise<BootReport> {
  const dir = mkdtempSync(join(tmpdir(), 'crim-containerd-'));
  const file = join(dir, 'config.toml');
  writeFileSync(file, scratchCopy(content, dir));
  try {
    const child = spawn(binary, ['--config', file, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const booted = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('containerd successfully booted')) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    // Give plugins that load after the boot line a moment, then stop it.
    await new Promise((r) => setTimeout(r, booted ? 500 : 0));
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r(undefined);
        }, 10_000);
        child.on('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    const problems = log.split('\n').filter((line) => /level=(warning|error|fatal)/.test(line));
    return { booted, problems, log };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
