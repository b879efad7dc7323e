import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, describeConfigFields, envNameToPath, loadConfig, pathToEnvName } from '../../src/config.js';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config defaults', () => {
  it('fills every field and freezes the result', () => {
    const config = loadConfig({});
    expect(config.selector).toBe('cri-migrator.dev/migrate=containerd');
    expect(config.concurrency).toBe(1);
    expect(config.allowControlPlane).toBe(false);
    expect(config.ssh.insecureAcceptNewHostKeys).toBe(false);
    expect(config.drain.gracePeriodSeconds).toBeNull();
    expect(config.rollback).toBe('auto');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.drain)).toBe(true);
    expect(() => {
      (config.drain as { force: boolean }).force = true;
    }).toThrow();
  });

  it('describes every leaf field for the generated reference', () => {
    const fields = describeConfigFields();
    expect(fields.length).toBeGreaterThan(30);
    for (const field of fields) expect(field.description, field.path).not.toBe('');
    expect(fields.find((f) => f.path === 'drain.timeoutSeconds')).toMatchObject({ env: 'CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS', defaultValue: 900 });
    expect(ConfigSchema.shape.ssh.description).toBeTruthy();
  });
});

describe('config sources', () => {
  it('applies file < env < --set', () => {
    const config = loadConfig({
      file: { path: 'c.yaml', data: { concurrency: 2, drain: { timeoutSeconds: 100, force: true } } },
      env: { CRI_MIGRATOR_CONCURRENCY: '3', CRI_MIGRATOR_DRAIN__DELETE_EMPTY_DIR_DATA: 'true', PATH: '/bin' },
      sets: ['concurrency=4', 'containerd.insecureRegistries=a.io,b.io:5000', 'containerd.registryMirrors={"docker.io":["https://m.example"]}'],
    });
    expect(config.concurrency).toBe(4);
    expect(config.drain).toMatchObject({ timeoutSeconds: 100, force: true, deleteEmptyDirData: true });
    expect(config.containerd.insecureRegistries).toEqual(['a.io', 'b.io:5000']);
    expect(config.containerd.registryMirrors).toEqual({ 'docker.io': ['https://m.example'] });
  });

  it('maps env names to paths and back', () => {
    expect(envNameToPath('CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS')).toEqual(['drain', 'timeoutSeconds']);
    expect(pathToEnvName(['ssh', 'insecureAcceptNewHostKeys'])).toBe('CRI_MIGRATOR_SSH__INSECURE_ACCEPT_NEW_HOST_KEYS');
    expect(envNameToPath(pathToEnvName(['containerd', 'minFreeDiskMiB']))).toEqual(['containerd', 'minFreeDiskMiB']);
  });

  it('accepts null for the pod grace period from --set', () => {
    expect(loadConfig({ sets: ['drain.gracePeriodSeconds=30'] }).drain.gracePeriodSeconds).toBe(30);
    expect(loadConfig({ sets: ['drain.gracePeriodSeconds=null'] }).drain.gracePeriodSeconds).toBeNull();
  });
});

describe('config errors name the field, the value and the fix', () => {
  const cases: { name: string; data?: Record<string, unknown>; env?: Record<string, string>; sets?: string[]; expect: RegExp[] }[] = [
    { name: 'concurrency below 1', data: { concurrency: 0 }, expect: [/^concurrency: too small/, /got 0/, /Fix: correct it in file c\.yaml/] },
    { name: 'wrong type from env', env: { CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS: 'soon' }, expect: [/drain\.timeoutSeconds: invalid input: expected number/, /got "soon"/, /environment CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS/] },
    { name: 'negative grace period', data: { drain: { gracePeriodSeconds: -1 } }, expect: [/drain\.gracePeriodSeconds/, /got -1/] },
    { name: 'unknown field with suggestion', data: { drain: { timeout: 5 } }, expect: [/drain\.timeout: unknown field/, /did you mean drain\.timeoutSeconds\?/] },
    { name: 'unknown env variable', env: { CRI_MIGRATOR_CONCURENCY: '2' }, expect: [/CRI_MIGRATOR_CONCURENCY: no such configuration field concurency/, /did you mean concurrency/] },
    { name: 'bad --set syntax', sets: ['concurrency'], expect: [/expected FIELD=VALUE/] },
    { name: 'mirror endpoint without scheme', data: { containerd: { registryMirrors: { 'docker.io': ['mirror.example.com'] } } }, expect: [/containerd\.registryMirrors\["docker\.io"\]\[0\]: must be an http:\/\/ or https:\/\/ URL/, /got "mirror\.example\.com"/] },
    { name: 'registry with scheme', data: { containerd: { insecureRegistries: ['https://r.local'] } }, expect: [/containerd\.insecureRegistries\[0\]: must be a registry host/] },
    { name: 'bad sandbox image', data: { containerd: { sandboxImage: 'Not An Image' } }, expect: [/containerd\.sandboxImage: must be an image reference/] },
    { name: 'bad selector', data: { selector: 'a=b=c' }, expect: [/selector: must be a label selector/] },
    { name: 'non-root user without sudo', data: { ssh: { user: 'ops' } }, expect: [/ssh\.sudo: must be true when ssh\.user is "ops"/] },
    { name: 'backoff limits inverted', data: { retries: { initialBackoffSeconds: 60, maxBackoffSeconds: 10 } }, expect: [/retries\.maxBackoffSeconds: must be >= retries\.initialBackoffSeconds \(60\)/] },
    { name: 'registry in both lists', data: { containerd: { insecureRegistries: ['r:5000'], plainHttpRegistries: ['r:5000'] } }, expect: [/keep each registry in one list/] },
    { name: 'rollback policy', data: { rollback: 'sometimes' }, expect: [/^rollback: invalid option/, /got "sometimes"/] },
    { name: 'bad proxy', data: { containerd: { httpProxy: 'proxy:3128' } }, expect: [/containerd\.httpProxy/] },
    { name: 'several problems at once', data: { concurrency: -1, ssh: { port: 70000 } }, expect: [/concurrency/, /ssh\.port: too big/] },
  ];
  it.each(cases)('$name', ({ data, env, sets, expect: patterns }) => {
    const error = errorOf(() => loadConfig({ ...(data ? { file: { path: 'c.yaml', data } } : {}), ...(env ? { env } : {}), ...(sets ? { sets } : {}) }));
    for (const pattern of patterns) expect(error.problems.some((p) => pattern.test(p)), `${pattern} in\n${error.message}`).toBe(true);
  });

  it('rejects a config file whose top level is not a mapping', () => {
    expect(errorOf(() => loadConfig({ file: { path: 'c.yaml', data: ['x'] } })).message).toMatch(/top level must be a mapping/);
  });
  it('leaves the harness cache variable alone (CRI_MIGRATOR_CACHE is not a setting)', () => {
    expect(() => loadConfig({ env: { CRI_MIGRATOR_CACHE: '/var/cache/x' } })).not.toThrow();
    expect(() => loadConfig({ env: { CRI_MIGRATOR_CAHCE: '/var/cache/x' } })).toThrow(/CRI_MIGRATOR_CAHCE: no such configuration field/);
  });
});
