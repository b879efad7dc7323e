import { describe, expect, it } from 'vitest';
import { commandHelp, EXIT, mainHelp, parseCommandLine, UsageError } from '../../src/cli/args.js';

const global = { set: [], logFormat: 'text' };

describe('cli: command lines', () => {
  it.each([
    [['plan', 'w1'], { command: 'plan', nodes: ['w1'], output: 'text', retry: false, global }],
    [['plan', 'w1', 'w2', '-o', 'json'], { command: 'plan', nodes: ['w1', 'w2'], output: 'json', retry: false }],
    [['plan', '--output=json', '--retry', 'w1'], { command: 'plan', nodes: ['w1'], output: 'json', retry: true }],
    [['migrate', 'w1', '--dry-run'], { command: 'plan', nodes: ['w1'], output: 'text', retry: false }],
    [['migrate', '--dry-run', '-o', 'json', 'w1'], { command: 'plan', output: 'json' }],
    [['migrate', 'w1', 'w2', '--retry'], { command: 'migrate', nodes: ['w1', 'w2'], retry: true }],
    [['status'], { command: 'status', output: 'text' }],
    [['check', '-o', 'json'], { command: 'check', output: 'json' }],
    [['run'], { command: 'run', global }],
    // Global options go before or after the command, like kubectl's.
    [['--kubeconfig', '/tmp/kc', '--context', 'kind-x', 'status'], { command: 'status', global: { ...global, kubeconfig: '/tmp/kc', context: 'kind-x' } }],
    [['migrate', 'w1', '--set', 'drain.timeoutSeconds=60', '--set', 'concurrency=2', '--log-format', 'json', '--config', 'c.yaml'], {
      command: 'migrate',
      global: { set: ['drain.timeoutSeconds=60', 'concurrency=2'], logFormat: 'json', config: 'c.yaml' },
    }],
  ])('%j', (argv, expected) => {
    expect(parseCommandLine(argv)).toMatchObject(expected);
  });

  it.each([
    [['--help'], mainHelp()],
    [['-h'], mainHelp()],
    [['help'], mainHelp()],
    [['help', 'plan'], commandHelp('plan')],
    [['plan', '--help'], commandHelp('plan')],
    [['migrate', '-h', 'w1'], commandHelp('migrate')],
    [['check', '--help'], commandHelp('check')],
  ])('help: %j', (argv, text) => {
    expect(parseCommandLine(argv)).toEqual({ command: 'help', text });
  });

  it('has help for every command, naming its options and the global ones', () => {
    expect(commandHelp('plan')).toContain('-o, --output');
    expect(commandHelp('migrate')).toContain('--retry');
    expect(commandHelp('status')).toContain('LAST ERROR');
    expect(commandHelp('run')).toContain('/metrics');
    for (const c of ['plan', 'migrate', 'status', 'check', 'run'] as const) expect(commandHelp(c)).toContain('--kubeconfig FILE');
    expect(mainHelp()).toContain('kubectl cri-migrate');
  });

  it.each([
    [[], /no command/],
    [['frobnicate'], /unknown command "frobnicate"; commands: /],
    [['help', 'frobnicate'], /unknown command/],
    [['plan'], /needs at least one NODE/],
    [['migrate'], /needs at least one NODE/],
    [['plan', 'W_1'], /not a node name: "W_1"/],
    [['plan', 'w1', 'w1'], /named twice/],
    [['status', 'w1'], /takes no arguments/],
    [['run', 'extra'], /takes no arguments/],
    [['plan', 'w1', '-o', 'yaml'], /must be text or json, got "yaml"/],
    [['migrate', 'w1', '-o', 'json'], /goes with --dry-run/],
    [['status', '--log-format', 'pretty'], /--log-format must be text or json/],
    [['status', '--frob'], /Unknown option '--frob'/],
    [['status', '--retry'], /Unknown option '--retry'/],
    [['plan', 'w1', '--kubeconfig'], /--kubeconfig/],
  ])('bad usage %j', (argv, message) => {
    let error: unknown;
    try {
      parseCommandLine(argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });

  it('names the command in a usage error so its help can follow', () => {
    try {
      parseCommandLine(['plan', '-o', 'yaml', 'w1']);
      expect.unreachable();
    } catch (err) {
      expect((err as UsageError).command).toBe('plan');
    }
  });

  it('exit codes: 0 success, 1 failure, 2 usage', () => {
    expect(EXIT).toEqual({ ok: 0, failure: 1, usage: 2 });
  });
});
