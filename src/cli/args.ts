// Command-line parsing: argv -> one Invocation, or a UsageError (exit 2) that says what to type.
// Pure: no I/O, so every command line is a table test.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help to show after the message, if known. */
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OutputFormat = 'text' | 'json';
export type LogFormat = 'text' | 'json';

export interface GlobalOptions {
  config?: string;
  set: string[];
  kubeconfig?: string;
  context?: string;
  /** text: readable progress lines on stderr; json: pino JSON logs on stderr instead. */
  logFormat: LogFormat;
}

export type Invocation =
  | { command: 'help'; text: string }
  | { command: 'version' }
  | { command: 'run'; global: GlobalOptions }
  | { command: 'plan'; global: GlobalOptions; nodes: string[]; output: OutputFormat; retry: boolean; force: boolean }
  | { command: 'migrate'; global: GlobalOptions; nodes: string[]; retry: boolean; force: boolean }
  | { command: 'status'; global: GlobalOptions; output: OutputFormat }
  | { command: 'pause'; global: GlobalOptions; reason: string }
  | { command: 'resume'; global: GlobalOptions }
  | { command: 'check'; global: GlobalOptions; output: OutputFormat };

export type CommandName = 'run' | 'plan' | 'migrate' | 'status' | 'check' | 'pause' | 'resume';

const GLOBAL_HELP = `global options:
  --kubeconfig FILE    kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --context NAME       kubeconfig context to use
  --config FILE        cri-migrator config file (YAML or JSON; see "Configuration" in the README)
  --set FIELD=VALUE    override one config field, repeatable (e.g. --set drain.timeoutSeconds=600)
  --log-format FORMAT  text (readable progress on stderr, default) or json (pino JSON logs on stderr)
  -h, --help           help for the command`;

const COMMANDS: Record<CommandName, { summary: string; usage: string; details: string }> = {
  plan: {
    summary: 'show what migrating the nodes would do, changing nothing',
    usage: 'cri-migrator plan NODE... [-o text|json] [--retry]',
    details: `Runs the migration engine with dry-run adapters: the Kubernetes API is only read (evictions
are sent with dryRun=All, so PodDisruptionBudgets are checked), and over SSH only read-only
commands run. Prints per node: the preflight verdicts, the pods that would be evicted, skipped
or blocked (with the PodDisruptionBudget), every command in order, a unified diff of every
file, and the net patch of the node's labels and annotations. Same as migrate --dry-run.

options:
  -o, --output FORMAT  text (default) or json
  --retry              plan a retry of a node that ended RolledBack or Failed
  --force              plan a takeover of a node whose claim has expired

exit status: 0 when every plan can go through, 1 when one would fail (e.g. a failed preflight
check or a pod the drain refuses), 2 on bad usage.`,
  },
  migrate: {
    summary: 'migrate the nodes from here, one after another, with live progress',
    usage: 'cri-migrator migrate NODE... [--retry] [--dry-run [-o text|json]]',
    details: `Drives each node through the state machine from this machine, printing one line per step
on stderr. A node without the migrate label (config "selector") is labelled first: naming it
here is the request. The state is kept on the Node, so an interrupted run resumes where it
stopped when started again (from here or by the in-cluster controller). Before acting it claims
the node (cri-migrator.dev/holder); a node another actor (the in-cluster controller, another
migrate) holds is refused, naming the holder, and the controller leaves the nodes this holds.

options:
  --retry              start again on a node that ended RolledBack or Failed (clears its
                       cri-migrator.dev/ state first; without it such a node is reported, not touched)
  --force              take over a node whose claim (cri-migrator.dev/holder) has expired,
                       after making sure that actor is gone; a live claim is never taken
  --dry-run            same as "cri-migrator plan"
  -o, --output FORMAT  with --dry-run: text (default) or json

exit status: 0 when every node reached Succeeded, 1 otherwise, 2 on bad usage.`,
  },
  status: {
    summary: 'table of the nodes selected for migration, or with migration state',
    usage: 'cri-migrator status [-o text|json]',
    details: `Lists the nodes that match the selector or carry cri-migrator.dev/ state: NAME, PHASE,
RUNTIME (status.nodeInfo.containerRuntimeVersion), AGE (since the migration started) and
LAST ERROR.

options:
  -o, --output FORMAT  text (default) or json`,
  },
  check: {
    summary: 'find nodes still on Docker and workloads that mount the Docker socket',
    usage: 'cri-migrator check [-o text|json]',
    details: `Lists the nodes whose runtime is docker://, and the pods (with their owner) that mount
/var/run/docker.sock, /run/docker.sock, /var/run/dockershim.sock or /var/run/cri-dockerd.sock
(or the whole /var/run or /run) through a hostPath volume: they break once their node runs
containerd. Read only.

options:
  -o, --output FORMAT  text (default) or json

exit status: 0 when nothing is found, 1 when Docker nodes or socket users remain.`,
  },
  pause: {
    summary: 'hold back every new node of the rollout (nodes in flight finish)',
    usage: 'cri-migrator pause [--reason TEXT]',
    details: `Writes the pause into the ConfigMap cri-migrator-rollout (in rollout.namespace, default the
Lease's namespace). Every actor (the controller, every migrate) reads it before starting a node:
no new node starts until "cri-migrator resume". Nodes already in flight finish. status shows
who paused and when.

options:
  --reason TEXT        why, shown by status`,
  },
  resume: {
    summary: 'let the rollout go on: clear the pause and every halt',
    usage: 'cri-migrator resume',
    details: `Clears the pause (cri-migrator pause) and the halt that a RolledBack or Failed node puts on the
rollout (rollout.haltOnFailure: the annotation cri-migrator.dev/halt on that node). The nodes
that failed stay as they are: retry them with migrate --retry once their cause is fixed.`,
  },
  run: {
    summary: 'run the controller (what the in-cluster Deployment runs)',
    usage: 'cri-migrator run',
    details: `Watches the Nodes that match the selector and migrates them, with leader election over a
coordination.k8s.io Lease so only one replica acts. Serves /metrics (Prometheus), /healthz and
/readyz on config "metricsPort". Logs JSON on stdout.`,
  },
};

export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = (Object.entries(COMMANDS) as [CommandName, (typeof COMMANDS)[CommandName]][]).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `cri-migrator: move Kubernetes nodes from Docker to containerd, one safe step at a time.

usage: cri-migrator COMMAND [options]      (as a kubectl plugin: kubectl cri-migrate COMMAND ...)

commands:
${lines.join('\n')}

${GLOBAL_HELP}

Run "cri-migrator COMMAND --help" for a command's options.
`;
}

export function commandHelp(command: CommandName): string {
  const c = COMMANDS[command];
  return `usage: ${c.usage}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n\n${c.details}\n\n${GLOBAL_HELP}\n`;
}

const GLOBAL_OPTIONS = {
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const OUTPUT_OPTION = { output: { type: 'string', short: 'o' } } as const satisfies ParseArgsConfig['options'];

const COMMAND_OPTIONS = {
  run: {},
  plan: { ...OUTPUT_OPTION, retry: { type: 'boolean' }, force: { type: 'boolean' } },
  migrate: { ...OUTPUT_OPTION, retry: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, force: { type: 'boolean' } },
  status: OUTPUT_OPTION,
  check: OUTPUT_OPTION,
  pause: { reason: { type: 'string' } },
  resume: {},
} as const satisfies Record<CommandName, ParseArgsConfig['options']>;

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

// RFC 1123 subdomain: what a Node name can be.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Index of the command word: the first argument that is neither an option nor an option's value. */
function commandIndex(argv: readonly string[]): number {
  const takesValue = new Set(['--config', '--set', '--kubeconfig', '--context', '--log-format', '-o', '--output']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (takesValue.has(arg)) i++;
    else if (!arg.startsWith('-')) return i;
  }
  return -1;
}

export function parseCommandLine(argv: readonly string[]): Invocation {
  const at = commandIndex(argv);
  const first = at >= 0 ? argv[at] : undefined;
  if (argv.length === 0) throw new UsageError('no command given');
  if (first === undefined) {
    if (argv.includes('--version')) return { command: 'version' };
    if (argv.includes('-h') || argv.includes('--help')) return { command: 'help', text: mainHelp() };
    throw new UsageError(`no command given (got only options: ${argv.join(' ')})`);
  }
  if (first === 'help') {
    const topic = argv[at + 1];
    if (topic === undefined) return { command: 'help', text: mainHelp() };
    if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    return { command: 'help', text: commandHelp(topic) };
  }
  if (first === 'version') return { command: 'version' };
  if (!isCommand(first)) {
    throw new UsageError(`unknown command "${first}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
  }
  const command = first;
  const rest = [...argv];
  rest.splice(at, 1);

  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    const options: ParseArgsConfig['options'] = { ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[command] };
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options });
  } catch (err) {
    // node:util's messages name the option; add where to look.
    throw new UsageError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`, command);
  }
  const v = parsed.values;
  if (v['help'] === true) return { command: 'help', text: commandHelp(command) };

  const logFormat = (v['log-format'] as string | undefined) ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new UsageError(`--log-format must be text or json, got "${logFormat}"`, command);
  }
  const global: GlobalOptions = {
    set: (v['set'] as string[] | undefined) ?? [],
    logFormat,
    ...(v['config'] !== undefined ? { config: v['config'] as string } : {}),
    ...(v['kubeconfig'] !== undefined ? { kubeconfig: v['kubeconfig'] as string } : {}),
    ...(v['context'] !== undefined ? { context: v['context'] as string } : {}),
  };
  const output = (v['output'] as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`-o/--output must be text or json, got "${output}"`, command);
  const nodes = parsed.positionals;

  const noPositionals = () => {
    if (nodes.length > 0) throw new UsageError(`${command} takes no arguments, got: ${nodes.join(' ')}`, command);
  };
  const needNodes = () => {
    if (nodes.length === 0) throw new UsageError(`${command} needs at least one NODE name (see kubectl get nodes)`, command);
    const bad = nodes.filter((n) => !NODE_NAME.test(n));
    if (bad.length > 0) throw new UsageError(`not a node name: ${bad.map((n) => JSON.stringify(n)).join(', ')}`, command);
    const seen = new Set<string>();
    for (const n of nodes) {
      if (seen.has(n)) throw new UsageError(`node ${n} is named twice`, command);
      seen.add(n);
    }
  };

  switch (command) {
    case 'run':
      noPositionals();
      return { command, global };
    case 'status':
    case 'check':
      noPositionals();
      return { command, global, output };
    case 'pause':
      noPositionals();
      return { command, global, reason: (v['reason'] as string | undefined) ?? '' };
    case 'resume':
      noPositionals();
      return { command, global };
    case 'plan':
      needNodes();
      return { command, global, nodes, output, retry: v['retry'] === true, force: v['force'] === true };
    case 'migrate':
      needNodes();
      if (v['dry-run'] === true) return { command: 'plan', global, nodes, output, retry: v['retry'] === true, force: v['force'] === true };
      if (v['output'] !== undefined) throw new UsageError('-o/--output goes with --dry-run (or use "plan"); migrate reports progress on stderr', command);
      return { command, global, nodes, retry: v['retry'] === true, force: v['force'] === true };
  }
}
