#!/usr/bin/env node
// Composition root: config, adapters, then the controller (`run`) or one node driven from here
// (`migrate`). The full CLI (plan output, status, check) builds on the same pieces.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, loadConfigFile, type Config } from './config.js';
import { Controller } from './controller/run.js';
import { withDryRun } from './dry-run.js';
import { driveNode } from './engine/drive.js';
import type { EngineDeps } from './engine/executor.js';
import { Mutex } from './engine/mutex.js';
import { createKubeAdapters, loadKubeConfig } from './kube/index.js';
import { createLogger, type Logger } from './log.js';
import { loadPlaybooks } from './playbooks/loader.js';
import { systemClock } from './ports.js';
import { sshConnector } from './remote/ssh.js';

const USAGE = `usage: cri-migrator <command> [options]

commands:
  run                 run the controller (leader-elected; what the Deployment runs)
  migrate NODE...     migrate the named nodes from here, one after another
                      --dry-run: change nothing, print what would be done as JSON

options:
  --config FILE       YAML/JSON config file
  --set FIELD=VALUE   override one config field (repeatable), e.g. --set drain.timeoutSeconds=600
  --kubeconfig FILE   kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or in-cluster)
  --context NAME      kubeconfig context to use
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        set: { type: 'string', multiple: true },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || !command) {
    process.stdout.write(USAGE);
    return parsed.values.help ? 0 : 2;
  }
  const config = loadConfig({
    ...(parsed.values.config ? { file: loadConfigFile(parsed.values.config) } : {}),
    env: process.env,
    sets: parsed.values.set ?? [],
  });
  const log = createLogger({ level: config.log.level });
  const kc = loadKubeConfig({
    ...(parsed.values.kubeconfig ? { kubeconfig: parsed.values.kubeconfig } : {}),
    ...(parsed.values.context ? { context: parsed.values.context } : {}),
  });
  const kube = createKubeAdapters(kc, config, systemClock, log);
  const engine: EngineDeps = {
    config,
    nodes: kube.nodes,
    evictor: kube.evictor,
    events: kube.events,
    smoke: kube.smoke,
    connect: sshConnector(config, log),
    playbooks: loadPlaybooks(config.playbooksDir),
    clock: systemClock,
    log,
    admission: new Mutex(),
  };

  switch (command) {
    case 'run':
      return runController(engine, kube, config, log);
    case 'migrate':
      if (rest.length === 0) throw new UsageError('migrate needs at least one NODE');
      return migrate(rest, engine, parsed.values['dry-run'] === true);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function runController(engine: EngineDeps, kube: ReturnType<typeof createKubeAdapters>, config: Config, log: Logger): Promise<number> {
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort(new Error(signal)));
  const controller = new Controller({
    engine,
    watch: kube.nodeWatch,
    lock: kube.lock,
    log,
    renewIntervalMs: Math.max(1_000, Math.floor((config.leaderElection.leaseDurationSeconds * 1000) / 3)),
  });
  log.info({ identity: kube.identity, selector: config.selector, concurrency: config.concurrency }, 'controller starting');
  await controller.run(stop.signal);
  return 0;
}

async function migrate(names: string[], engine: EngineDeps, dryRun: boolean): Promise<number> {
  let failed = 0;
  for (const name of names) {
    if (dryRun) {
      const plan = withDryRun(engine);
      const result = await driveNode(name, plan.deps);
      const hosts = plan.hosts.map(({ node, host }) => ({ node, records: host.records }));
      process.stdout.write(`${JSON.stringify({ node: name, result, cluster: plan.cluster.records, hosts }, null, 2)}\n`);
      continue;
    }
    const result = await driveNode(name, engine, {
      onPass: (pass) => engine.log.info({ node: name, pass }, 'progress'),
    });
    const ok = result.kind === 'settled' && result.phase === 'Succeeded';
    if (!ok) failed++;
    process.stdout.write(`${name}: ${result.kind === 'settled' ? (result.phase ?? 'unknown') : result.kind} ${result.kind === 'settled' ? result.reason : ''}\n`);
  }
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    const chain: string[] = [];
    for (let e: unknown = err; e instanceof Error && chain.length < 5; e = e.cause) chain.push(e.message);
    process.stderr.write(`error: ${chain.join(': ') || String(err)}\n`);
    process.exit(1);
  },
);
