// One frozen Config, validated by zod at start-up. Every field has a default and a description:
// the README's configuration reference is generated from ConfigSchema.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import YAML from 'yaml';

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

// A label selector in the equality form kubectl accepts: key=value, key!=value, key, !key; comma separated.
const labelSelectorPattern =
  /^\s*!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?(\s*(=|==|!=)\s*[A-Za-z0-9]?([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\s*(,\s*!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?(\s*(=|==|!=)\s*[A-Za-z0-9]?([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\s*)*$/;
const labelSelector = z.string().regex(labelSelectorPattern, {
  message: 'must be a label selector such as "key=value" or "key!=value,other"',
});

// host or host:port, as containerd names registries (docker.io, registry.local:5000).
const registryHost = z
  .string()
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d{1,5})?$/, {
    message: 'must be a registry host such as "docker.io" or "registry.local:5000" (no scheme, no path)',
  });
const registryEndpoint = z.url({
  protocol: /^https?$/,
  message: 'must be an http:// or https:// URL such as "https://mirror.example.com"',
});
const imageReference = z
  .string()
  .regex(/^([A-Za-z0-9.-]+(:\d+)?\/)?[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
    message: 'must be an image reference such as "registry.k8s.io/pause:3.9"',
  });
const proxyUrl = z.union([z.literal(''), z.url({ protocol: /^https?$/, message: 'must be an http(s):// proxy URL or empty' })]);

export const ConfigSchema = z
  .object({
    selector: labelSelector
      .default('cri-migrator.dev/migrate=containerd')
      .describe('Label selector of the Nodes to migrate. Label a node with it to start its migration.'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(1)
      .describe('How many nodes may be migrating at once across the whole cluster.'),
    minReadyNodes: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('A node is only taken out of service while at least this many OTHER nodes stay Ready.'),
    allowControlPlane: z
      .boolean()
      .default(false)
      .describe('Whether nodes labelled node-role.kubernetes.io/control-plane (or master) may be migrated.'),
    playbooksDir: z
      .string()
      .min(1)
      .default(fileURLToPath(new URL('../playbooks', import.meta.url)))
      .describe('Directory holding dockershim.yaml and cri-dockerd.yaml, the remote step definitions.'),
    backupDir: z
      .string()
      .regex(/^\/[^\s'"]*[^/\s'"]$/, { message: 'must be an absolute path without spaces or quotes' })
      .default('/var/lib/cri-migrator/backup')
      .describe('Directory on each node where the original of every file we change is kept (written once).'),
    drain: z
      .object({
        timeoutSeconds: seconds(1, 86_400).default(900).describe('Overall time limit for draining one node.'),
        gracePeriodSeconds: z
          .number()
          .int()
          .min(0)
          .nullable()
          .default(null)
          .describe("Grace period given to evicted pods; null uses each pod's terminationGracePeriodSeconds."),
        deleteEmptyDirData: z
          .boolean()
          .default(false)
          .describe('Evict pods that use emptyDir volumes (their data is lost), like kubectl drain --delete-emptydir-data.'),
        force: z
          .boolean()
          .default(false)
          .describe('Evict pods that no controller manages (they are not recreated), like kubectl drain --force.'),
        podSelector: z
          .union([z.literal(''), labelSelector])
          .default('')
          .describe('Only evict pods matching this label selector; empty evicts all pods.'),
        evictionRetrySeconds: seconds(1, 300)
          .default(5)
          .describe('Wait between eviction attempts of a pod that a PodDisruptionBudget protects (HTTP 429).'),
        skipWaitForDeleteTimeoutSeconds: seconds(0, 86_400)
          .default(0)
          .describe('Pods deleted longer ago than this are not waited for (0 waits for every pod).'),
      })
      .strict()
      .prefault({})
      .describe('How pods are moved off the node (kubectl drain semantics).'),
    ssh: z
      .object({
        user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, { message: 'must be a Unix user name' }).default('root').describe('SSH login user on the nodes.'),
        port: z.number().int().min(1).max(65_535).default(22).describe('SSH port on the nodes.'),
        addressType: z
          .enum(['InternalIP', 'ExternalIP', 'Hostname'])
          .default('InternalIP')
          .describe("Which of the Node's status.addresses to connect to."),
        privateKeyPath: z
          .string()
          .min(1)
          .default('/etc/cri-migrator/ssh/id_ed25519')
          .describe('Private key file used to log in (mounted from a Secret in the cluster). Never logged.'),
        knownHostsPath: z
          .string()
          .min(1)
          .default('/etc/cri-migrator/ssh/known_hosts')
          .describe('known_hosts file the node host keys are verified against (OpenSSH format, [host]:port supported).'),
        insecureAcceptNewHostKeys: z
          .boolean()
          .default(false)
          .describe('Trust on first use: accept host keys that are NOT in known_hosts. A mismatching key is still rejected.'),
        sudo: z
          .boolean()
          .default(false)
          .describe('Run remote commands through "sudo -n" (needed when ssh.user is not root).'),
        connectTimeoutSeconds: seconds(1, 600).default(15).describe('Time limit for establishing an SSH connection.'),
        commandTimeoutSeconds: seconds(1, 3_600)
          .default(300)
          .describe('Default time limit for one remote command; playbook steps may set their own.'),
      })
      .strict()
      .prefault({})
      .describe('How cri-migrator reaches the nodes.'),
    containerd: z
      .object({
        sandboxImage: z
          .union([z.literal(''), imageReference])
          .default('')
          .describe(
            "Pause image for containerd's sandbox_image. Empty uses kubelet's --pod-infra-container-image, else the default for the kubelet version.",
          ),
        registryMirrors: z
          .record(registryHost, z.array(registryEndpoint).min(1))
          .default({})
          .describe('Mirrors per registry host, e.g. {"docker.io": ["https://mirror.example.com"]}; written as hosts.toml under config_path.'),
        insecureRegistries: z
          .array(registryHost)
          .default([])
          .describe('Registries reached over HTTPS without verifying their certificate (skip_verify).'),
        plainHttpRegistries: z
          .array(registryHost)
          .default([])
          .describe('Registries reached over plain HTTP.'),
        httpProxy: proxyUrl.default('').describe('HTTP_PROXY for containerd (systemd drop-in); empty sets none.'),
        httpsProxy: proxyUrl.default('').describe('HTTPS_PROXY for containerd (systemd drop-in); empty sets none.'),
        noProxy: z
          .string()
          .regex(/^[^\s"'\\]*$/, { message: 'must be a comma separated list without spaces or quotes' })
          .default('')
          .describe('NO_PROXY for containerd, comma separated; only written when a proxy is set.'),
        preloadSandboxImage: z
          .boolean()
          .default(false)
          .describe("Air-gapped nodes: copy the sandbox image from Docker into containerd's k8s.io namespace before switching."),
        minFreeDiskMiB: z
          .number()
          .int()
          .min(0)
          .default(2_048)
          .describe('Preflight refuses a node with less free space than this under /var/lib/containerd.'),
      })
      .strict()
      .prefault({})
      .describe('The containerd configuration that is generated for each node.'),
    verifyTimeoutSeconds: seconds(10, 7_200)
      .default(300)
      .describe('Time for the node to come back Ready reporting containerd:// (and, on rollback, docker://).'),
    smoke: z
      .object({
        enabled: z.boolean().default(true).describe('Run a smoke pod on the node after the switch, before uncordoning.'),
        namespace: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a namespace name' })
          .default('cri-migrator')
          .describe('Namespace the smoke pod is created in.'),
        image: z
          .union([z.literal(''), imageReference])
          .default('')
          .describe('Image of the smoke pod; empty uses the sandbox image, which every node already has.'),
        timeoutSeconds: seconds(5, 3_600).default(120).describe('Time for the smoke pod to reach Running.'),
      })
      .strict()
      .prefault({})
      .describe('The verification pod run on a freshly migrated node.'),
    rollback: z
      .enum(['auto', 'never'])
      .default('auto')
      .describe('auto: when retries are exhausted, restore Docker and uncordon. never: stop in Failed, cordoned, for a human.'),
    retries: z
      .object({
        maxAttempts: z.number().int().min(1).max(20).default(3).describe('Attempts per phase before rolling back.'),
        initialBackoffSeconds: seconds(1, 3_600).default(5).describe('First wait after a failed attempt; doubles each time.'),
        maxBackoffSeconds: seconds(1, 86_400).default(300).describe('Longest wait between attempts.'),
      })
      .strict()
      .prefault({})
      .describe('Retry policy for failed phases.'),
    leaderElection: z
      .object({
        namespace: z
          .union([z.literal(''), z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be a namespace name' })])
          .default('')
          .describe("Namespace of the Lease; empty uses the pod's own namespace (or cri-migrator outside a cluster)."),
        leaseName: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: 'must be a lowercase object name' })
          .default('cri-migrator')
          .describe('Name of the coordination.k8s.io Lease the replicas compete for.'),
        leaseDurationSeconds: seconds(5, 300).default(15).describe('How long a leader holds the Lease without renewing it.'),
      })
      .strict()
      .prefault({})
      .describe('Leader election between controller replicas: only the Lease holder acts.'),
    metricsPort: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(8080)
      .describe('Port of the HTTP server that `run` starts for /metrics (Prometheus), /healthz and /readyz; 0 starts none.'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('Log level.'),
      })
      .strict()
      .prefault({})
      .describe('Logging.'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.retries.maxBackoffSeconds < cfg.retries.initialBackoffSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['retries', 'maxBackoffSeconds'],
        input: cfg.retries.maxBackoffSeconds,
        message: `must be >= retries.initialBackoffSeconds (${cfg.retries.initialBackoffSeconds})`,
      });
    }
    if (cfg.ssh.user !== 'root' && !cfg.ssh.sudo) {
      ctx.addIssue({
        code: 'custom',
        path: ['ssh', 'sudo'],
        input: cfg.ssh.sudo,
        message: `must be true when ssh.user is "${cfg.ssh.user}" (not root): the steps change system files`,
      });
    }
    const both = cfg.containerd.insecureRegistries.filter((h) => cfg.containerd.plainHttpRegistries.includes(h));
    if (both.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['containerd', 'insecureRegistries'],
        input: both,
        message: `lists ${both.join(', ')} also in containerd.plainHttpRegistries; keep each registry in one list`,
      });
    }
  });

export type Config = Readonly<z.infer<typeof ConfigSchema>>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Where a raw value came from, so an error can say which file, variable or flag to fix. */
export interface ConfigSources {
  /** Parsed content of the config file (YAML or JSON), and its path for messages. */
  file?: { path: string; data: unknown };
  /** Environment, read for CRI_MIGRATOR_<FIELD>[__<FIELD>] variables, e.g. CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS. */
  env?: Record<string, string | undefined>;
  /** --set style overrides: "drain.timeoutSeconds=600". Highest precedence. */
  sets?: readonly string[];
}

type Origin = string;

export function loadConfigFile(path: string): { path: string; data: unknown } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file ${path}: check the path (--config) and its permissions`, { cause: err });
  }
  try {
    return { path, data: YAML.parse(text) ?? {} };
  } catch (err) {
    throw new Error(`config file ${path} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Merge file < env < --set, validate, and freeze. Throws ConfigError listing every bad field. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const origins = new Map<string, Origin>();
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};

  if (sources.file) {
    const data = sources.file.data;
    if (data !== null && (typeof data !== 'object' || Array.isArray(data))) {
      throw new ConfigError([`${sources.file.path}: the top level must be a mapping of fields, got ${describe(data)}`]);
    }
    deepAssign(raw, (data ?? {}) as Record<string, unknown>, [], origins, `file ${sources.file.path}`);
  }
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = envNameToPath(name);
    const leaf = leafSchema(path);
    if (!leaf) {
      problems.push(`${name}: no such configuration field ${path.join('.')}${suggest(path)}`);
      continue;
    }
    setPath(raw, path, coerce(value, leaf), origins, `environment ${name}`);
  }
  for (const set of sources.sets ?? []) {
    const eq = set.indexOf('=');
    if (eq <= 0) {
      problems.push(`--set ${set}: expected FIELD=VALUE, e.g. --set drain.timeoutSeconds=600`);
      continue;
    }
    const path = set.slice(0, eq).trim().split('.');
    const leaf = leafSchema(path);
    if (!leaf) {
      problems.push(`--set ${set}: no such configuration field ${path.join('.')}${suggest(path)}`);
      continue;
    }
    setPath(raw, path, coerce(set.slice(eq + 1), leaf), origins, `--set ${set}`);
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) problems.push(...parsed.error.issues.flatMap((issue) => explainIssue(issue, raw, origins)));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return deepFreeze(parsed.data);
}

const ENV_PREFIX = 'CRI_MIGRATOR_';

/** CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS -> ["drain", "timeoutSeconds"]. */
export function envNameToPath(name: string): string[] {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

/** ["drain", "timeoutSeconds"] -> CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS. */
export function pathToEnvName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([A-Z])/g, '_$1').toUpperCase()).join('__');
}

function explainIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>, origins: Map<string, Origin>): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = [...issue.path.map(String), key];
      const where = origins.get(path.join('.')) ?? originOf(path, origins);
      return `${formatPath(path)}: unknown field. Fix: remove it or correct its name in ${where}${suggest(path)}.`;
    });
  }
  const path = issue.path.map(String);
  const dotted = path.length ? formatPath(issue.path) : '(top level)';
  const value = getPath(raw, path);
  const where = originOf(path, origins);
  const help = leafSchema(path)?.description ?? nearestDescription(path);
  const fix =
    where === 'defaults'
      ? `set it in the config file, with ${pathToEnvName(path)}, or with --set ${path.join('.')}=VALUE`
      : `correct it in ${where}`;
  return [`${dotted}: ${lowerFirst(issue.message)}; got ${describe(value)}. Fix: ${fix}.${help ? ` (${help})` : ''}`];
}

/** containerd.registryMirrors["docker.io"][0]: dots inside keys stay readable. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => {
      if (typeof key === 'number') return `[${key}]`;
      const text = String(key);
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) return i === 0 ? text : `.${text}`;
      return `[${JSON.stringify(text)}]`;
    })
    .join('');
}

function nearestDescription(path: readonly string[]): string | undefined {
  for (let i = path.length - 1; i > 0; i--) {
    const description = leafSchema(path.slice(0, i))?.description;
    if (description) return description;
  }
  return undefined;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function originOf(path: readonly string[], origins: Map<string, Origin>): string {
  for (let i = path.length; i > 0; i--) {
    const origin = origins.get(path.slice(0, i).join('.'));
    if (origin) return origin;
  }
  return 'defaults';
}

function describe(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

type AnySchema = z.core.$ZodType & { description?: string };

/** The schema of a leaf (or record/array) field at path, or undefined if there is no such field. */
function leafSchema(path: readonly string[]): AnySchema | undefined {
  let schema: AnySchema = ConfigSchema as unknown as AnySchema;
  for (const key of path) {
    const obj = unwrap(schema);
    if (!(obj instanceof z.ZodObject)) return undefined;
    const next = (obj.shape as Record<string, AnySchema>)[key];
    if (!next) return undefined;
    schema = next;
  }
  return schema;
}

function unwrap(schema: AnySchema): AnySchema {
  let s: AnySchema = schema;
  for (;;) {
    const def = (s as { _zod: { def: { type: string; innerType?: AnySchema; in?: AnySchema } } })._zod.def;
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

/** Env and --set values are strings; turn them into what the field expects (JSON for lists and maps). */
function coerce(text: string, schema: AnySchema): unknown {
  const inner = unwrap(schema);
  const type = (inner as { _zod: { def: { type: string } } })._zod.def.type;
  const trimmed = text.trim();
  // "null" selects a nullable field's "use the built-in behaviour" value (e.g. drain.gracePeriodSeconds).
  if (trimmed === 'null') return null;
  switch (type) {
    case 'number':
      return trimmed === '' || Number.isNaN(Number(trimmed)) ? text : Number(trimmed);
    case 'boolean':
      return trimmed === 'true' ? true : trimmed === 'false' ? false : text;
    case 'array':
      if (trimmed.startsWith('[')) return tryJson(trimmed);
      return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
    case 'record':
    case 'object':
      return tryJson(trimmed);
    default:
      return text;
  }
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Left as text on purpose: zod then reports the field with its expected type.
    return text;
  }
}

function deepAssign(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
  prefix: string[],
  origins: Map<string, Origin>,
  origin: Origin,
): void {
  for (const [key, value] of Object.entries(source)) {
    const path = [...prefix, key];
    if (isPlainObject(value) && isPlainObject(target[key]) && !isRecordField(path)) {
      deepAssign(target[key] as Record<string, unknown>, value, path, origins, origin);
    } else if (isPlainObject(value) && !isRecordField(path)) {
      target[key] = {};
      origins.set(path.join('.'), origin);
      deepAssign(target[key] as Record<string, unknown>, value, path, origins, origin);
    } else {
      target[key] = value;
      origins.set(path.join('.'), origin);
    }
  }
}

function isRecordField(path: readonly string[]): boolean {
  const schema = leafSchema(path);
  return schema !== undefined && unwrap(schema) instanceof z.ZodRecord;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown, origins: Map<string, Origin>, origin: Origin): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
  origins.set(path.join('.'), origin);
}

function getPath(source: unknown, path: readonly string[]): unknown {
  let node = source;
  for (const key of path) {
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isPlainObject(node)) node = node[key];
    else return undefined;
  }
  return node;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** " (did you mean drain.timeoutSeconds?)" when a known field is a small edit away. */
function suggest(path: readonly string[]): string {
  const parent = path.slice(0, -1);
  const parentSchema = parent.length ? leafSchema(parent) : (ConfigSchema as unknown as AnySchema);
  const obj = parentSchema ? unwrap(parentSchema) : undefined;
  if (!(obj instanceof z.ZodObject)) return '';
  const wanted = path[path.length - 1]!.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const key of Object.keys(obj.shape)) {
    // A missing unit suffix ("timeout" for "timeoutSeconds") counts as a near miss.
    const distance = key.toLowerCase().startsWith(wanted) ? 1 : editDistance(wanted, key.toLowerCase());
    if (!best || distance < best.distance) best = { key, distance };
  }
  if (!best || best.distance > Math.max(2, Math.floor(wanted.length / 3))) return '';
  return ` (did you mean ${[...parent, best.key].join('.')}?)`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Defaults only: handy for tests and for printing the reference. */
export function defaultConfig(): Config {
  return loadConfig({});
}

/** Flattened field list for generated documentation: path, env variable, default, description. */
export function describeConfigFields(): { path: string; env: string; defaultValue: unknown; description: string }[] {
  const out: { path: string; env: string; defaultValue: unknown; description: string }[] = [];
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  const walk = (schema: AnySchema, path: string[]) => {
    const obj = unwrap(schema);
    if (obj instanceof z.ZodObject && path.length > 0 && !(unwrap(schema) instanceof z.ZodRecord)) {
      for (const [key, child] of Object.entries(obj.shape as Record<string, AnySchema>)) walk(child, [...path, key]);
      return;
    }
    if (obj instanceof z.ZodObject) {
      for (const [key, child] of Object.entries(obj.shape as Record<string, AnySchema>)) walk(child, [key]);
      return;
    }
    out.push({ path: path.join('.'), env: pathToEnvName(path), defaultValue: getPath(defaults, path), description: schema.description ?? '' });
  };
  walk(ConfigSchema as unknown as AnySchema, []);
  return out;
}
