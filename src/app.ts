// The application behind the CLI and the controller: SSH files checked, the kubeconfig loaded,
// the adapters built, then the controller (`run`) or a CLI command. Loaded by main.ts only for
// commands that talk to the API server, so --help, version and configuration errors answer
// without loading the Kubernetes client.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { EXIT, type GlobalOptions, type Invocation } from './cli/args.js';
import { checkCommand, migrateCommand, pauseCommand, planCommand, resumeCommand, statusCommand, type CliContext } from './cli/commands.js';
import { ConfigError, type Config } from './config.js';
import { CachedNodeApi } from './controller/cached-nodes.js';
import { startHttpServer } from './controller/http.js';
import { controllerMetrics, MetricsObserver, ObservedLock } from './controller/metrics.js';
import { Controller } from './controller/run.js';
import { cliActor, controllerActor, type Actor } from './domain/claim.js';
import { parseSelector } from './domain/selector.js';
import type { EngineDeps } from './engine/executor.js';
import { Mutex } from './engine/mutex.js';
import { rolloutExtras } from './engine/view.js';
import { createKubeAdapters, loadKubeConfig, ownNamespace } from './kube/index.js';
import { createLogger, type Logger } from './log.js';
import { loadPlaybooks } from './playbooks/loader.js';
import { systemClock } from './ports.js';
import { sshConnector } from './remote/ssh.js';
import { checkSshFiles, nodesWithoutHostKey } from './remote/ssh-files.js';

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

function engineDeps(config: Config, kube: KubeAdapters, log: Logger, actor: Actor): EngineDeps {
  return {
    actor,
    config,
    nodes: kube.nodes,
    evictor: kube.evictor,
    events: kube.events,
    smoke: kube.smoke,
    connect: sshConnector(config, log),
    rollout: kube.rollout,
    controlPlane: kube.controlPlane,
    playbooks: loadPlaybooks(config.playbooksDir),
    clock: systemClock,
    log,
    admission: new Mutex(),
  };
}

export async function runApp(invocation: Exclude<Invocation, { command: 'help' | 'version' }>, config: Config): Promise<number> {
  const { global } = invocation;
  // Bad SSH files stop here (exit 2), before the API server is contacted or any node is touched.
  const usesSsh = invocation.command === 'run' || invocation.command === 'plan' || invocation.command === 'migrate';
  const sshFiles = usesSsh ? checkSshFiles(config.ssh) : undefined;
  if (sshFiles && sshFiles.problems.length > 0) throw new ConfigError(sshFiles.problems);
  if (!parseSelector(config.selector).some((r) => r.op === 'eq' || r.op === 'exists')) {
    process.stderr.write(
      `warning: selector "${config.selector}" has no key=value or key term, so it matches every node that lacks a label: label the nodes to migrate and select that label instead\n`,
    );
  }
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

  const force = (invocation.command === 'migrate' || invocation.command === 'plan') && invocation.force;
  const actor = cliActor({ host: hostname(), pid: process.pid, force, leaseSeconds: config.claims.leaseSeconds, isAlive: pidAlive });

  const log = cliLogger(global.logFormat, config.log.level);
  const kube = createKubeAdapters(kc, config, systemClock, log);
  const ctx: CliContext = {
    engine: { ...engineDeps(config, kube, log, actor), signal: stop.signal },
    workloads: kube.workloads,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    progress: global.logFormat === 'text' ? (text) => process.stderr.write(text) : null,
    signal: stop.signal,
    ...(sshFiles?.knownHosts ? { missingHostKeys: (nodes) => nodesWithoutHostKey(sshFiles.knownHosts!, nodes, config.ssh) } : {}),
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
    case 'pause':
      return pauseCommand(ctx, invocation.reason);
    case 'resume':
      return resumeCommand(ctx);
  }
}

async function runController(config: Config, kube: KubeAdapters, log: Logger, signal: AbortSignal): Promise<number> {
  // Gauges from the watch's cache while this replica leads (no list per scrape); a standby lists.
  const metrics = controllerMetrics({ nodes: async () => kube.nodeWatch.cached?.() ?? kube.nodes.list(), rollout: () => rolloutExtras({ rollout: kube.rollout, config }), config, log });
  const lock = new ObservedLock(kube.lock, metrics);
  const lease = `${config.leaderElection.namespace || ownNamespace()}/${config.leaderElection.leaseName}`;
  const actor = controllerActor({ lease, pod: kube.identity, leaseSeconds: config.claims.leaseSeconds });
  // Reconciles read the watch's cache and go to the API server only to write (controller/cached-nodes.ts).
  const engine: EngineDeps = {
    ...engineDeps(config, kube, log, actor),
    nodes: new CachedNodeApi(kube.nodes, kube.nodeWatch),
    observer: new MetricsObserver(metrics),
    signal,
  };
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
    leaseDurationMs: config.leaderElection.leaseDurationSeconds * 1000,
    stopGraceMs: config.shutdownGraceSeconds * 1000,
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

/** Whether a process of this host is still running (for taking over our own killed runs). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

