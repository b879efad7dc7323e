#!/usr/bin/env node
// Entry point: parse the command line and load the config, then hand over to app.ts (loaded
// only now: --help, version and configuration errors answer without the Kubernetes client).
// Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
import { readFileSync } from 'node:fs';
import { commandHelp, EXIT, mainHelp, parseCommandLine, UsageError, type Invocation } from './cli/args.js';
import { errorChain } from './domain/errors.js';

/** Errors that mean bad usage or configuration (exit 2), told apart by name: their modules load later. */
const USAGE_ERRORS = new Set(['ConfigError', 'KubeconfigError', 'LeaseNamespaceMissingError']);

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
  const { loadConfig, loadConfigFile } = await import('./config.js');
  const config = loadConfig({
    ...(global.config ? { file: loadConfigFile(global.config) } : {}),
    env: process.env,
    sets: global.set,
  });
  const { runApp } = await import('./app.js');
  return runApp(invocation, config);
}

function explain(err: unknown): string {
  const text = errorChain(err);
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
    if (err instanceof Error && USAGE_ERRORS.has(err.name)) {
      process.stderr.write(`${err.name === 'ConfigError' ? '' : 'error: '}${err.message}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`error: ${explain(err)}\n`);
    process.exit(EXIT.failure);
  },
);
