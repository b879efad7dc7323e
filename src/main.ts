#!/usr/bin/env node
// Composition root: parse the command line, load the config, build the adapters, then run the
// controller (`run`) or a CLI command (src/cli/). Exit codes: 0 success, 1 failure, 2 bad usage.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { commandHelp, EXIT, mainHelp, parseCommandLine, UsageError, type GlobalOptions, type Invocation } from './cli/args.js';
import { checkCommand, migrateCommand, planCommand, statusCommand, type CliContext } from './cli/commands.js';
import { ConfigError, loadConfig, loadConfigFile, type Config } from './config.js';
import { startHttpServer } from './controller/http.js';
import { collectNodesByPhase, controllerMetrics, MetricsEvents, ObservedLock } from './controller/metrics.js';
import { Controller } from './controller/run.js';
import type { EngineDeps } from './engine/executor.js';
import { Mutex } from './engine/mutex.js';
import { createKubeAdapters, loadKubeConfig } from './kube/index.js';
import { createLogger, type Logger } from './log.js';
import { loadPlaybooks } from './playbooks/loader.js';
import { systemClock } from './ports.js';
import { sshConnector } from './remote/ssh.js';

type KubeAdapters = ReturnType<typeof createKubeAdapters>;

/** Messages the CLI's progress lines already carry (from the Events they come with). */
const SHOWN_AS_PROGRESS = new Set(['action failed', 'needs attention', 'acting', 'phase reached', 'waiting']);

/**
 * The CLI's logger. json: pino's JSON lines on stderr. text: warnings and errors as one readable
 * line each on stderr, beside the progress lines.
 */
function cliLogger(format: GlobalOptions['logFormat'], level: string): Logger {
  if (format === 'json') return createLogger({ level }, pino.destination(2));
  const levels: Record<number, string> = { 40: 'warning', 50: 'error', 60: 'fatal' };
  return createLogger(
    { level: 'warn' },
    {
      write(line: string) {
        const o = JSON.parse(line) as { level: number; msg?: string; node?: string; err?: { message?: string } };
        if (o.msg && SHOWN_AS_PROGRESS.has(o.msg)) return;
        const where = o.node ? `${o.node}: ` : '';
        process.stderr.write(`${levels[o.level] ?? 'log'}: ${where}${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}\n`);
      },
    },
  );
}

function engineDeps(config: Config, kube: KubeAdapters, log: Logger): EngineDeps {
  return {
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
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const invocation: Invocation = parseCommandLine(argv);
  if (invocation.command === 'help') {
    process.stdout.write(invocation.text);
    return EXIT.ok;
  }
  if (invocation.command === 'version') {
    process.stdout.write(`cri-migrator ${version()}\n`);
    return EXIT.ok;
  }
  const { global } = invocation;
  const config = loadConfig({
    ...(global.config ? { file: loadConfigFile(global.config) } : {}),
    env: process.env,
    sets: global.set,
  });
  const kc = loadKubeConfig({
    ...(global.kubeconfig ? { kubeconfig: global.kubeconfig } : {}),
    ...(global.context ? { context: global.context } : {}),
  });
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => stop.abort(new Error(`received ${signal}`)));
  }

  if (invocation.command === 'run') {
    const log = createLogger({ level: config.log.level });
    return runController(config, createKubeAdapters(kc, config, systemClock, log), log, stop.signal);
  }

  const log = cliLogger(global.logFormat, config.log.level);
  const kube = createKubeAdapters(kc, config, systemClock, log);
  const ctx: CliContext = {
    engine: engineDeps(config, kube, log),
    workloads: kube.workloads,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    progress: global.logFormat === 'text' ? (text) => process.stderr.write(text) : null,
    signal: stop.signal,
  };
  switch (invocation.command) {
    case 'plan':
      return planCommand(ctx, invocation.nodes, invocation);
    case 'migrate':
      return migrateCommand(ctx, invocation.nodes, invocation);
    case 'status':
      return statusCommand(ctx, invocation.output);
    case 'check':
      return checkCommand(ctx, invocation.output);
  }
}

async function runController(config: Config, kube: KubeAdapters, log: Logger, signal: AbortSignal): Promise<number> {
  const metrics = controllerMetrics();
  const lock = new ObservedLock(kube.lock, metrics);
  const base = engineDeps(config, kube, log);
  const engine: EngineDeps = { ...base, events: new MetricsEvents(base.events, metrics, kube.nodes, log) };
  collectNodesByPhase(metrics, kube.nodes, config.selector, log);
  const http =
    config.metricsPort === 0
      ? undefined
      : await startHttpServer({
          port: config.metricsPort,
          registry: metrics.registry,
          log,
          notReadyReason: () =>
            lock.apiReachable === true ? null : lock.apiReachable === undefined ? 'no leader election attempt yet' : `API server: ${lock.lastError ?? 'unreachable'}`,
        });
  const controller = new Controller({
    engine,
    watch: kube.nodeWatch,
    lock,
    log,
    renewIntervalMs: Math.max(1_000, Math.floor((config.leaderElection.leaseDurationSeconds * 1000) / 3)),
  });
  log.info(
    { identity: kube.identity, selector: config.selector, concurrency: config.concurrency, metricsPort: http?.port ?? null },
    'controller starting',
  );
  try {
    await controller.run(signal);
  } finally {
    await http?.close();
  }
  return EXIT.ok;
}

function explain(err: unknown): string {
  const chain: string[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = e.cause) {
    if (!chain.some((c) => c.includes(e.message))) chain.push(e.message);
  }
  const text = chain.join(': ') || String(err);
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|certificate|Unauthorized|\(401|\(403/.test(text)) {
    return `${text}\n(check that the cluster is reachable and that --kubeconfig/--context point at it and allow this)`;
  }
  return text;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${err.command ? commandHelp(err.command) : mainHelp()}`);
      process.exit(EXIT.usage);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`error: ${explain(err)}\n`);
    process.exit(EXIT.failure);
  },
);
