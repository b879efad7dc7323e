// Loads the configuration: defaults < the --config file < CRI_MIGRATOR_* variables < --set, then
// one validation by the schema, and one frozen Config. A bad value is reported with its field's
// path, what was wrong, where it came from and how to fix it. Fields are looked up in the schema's
// JSON Schema (zod's public toJSONSchema), not in zod's internals.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import YAML from 'yaml';
import { fieldAt, leafFields, type Field } from './fields.js';
import { ConfigSchema, type Config } from './schema.js';

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

/** Reads --config. An unreadable or unparsable file is a configuration error (exit 2), like a bad value. */
export function loadConfigFile(path: string): { path: string; data: unknown } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([`--config ${path}: cannot read it (${why}). Fix: check the path and its permissions.`]);
  }
  try {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw doc.errors[0]!;
    // Numbers only as plain decimals: a hex, octal, exponent or infinite number stays the text it
    // was, so the field is refused with its path instead of read as something nobody meant.
    YAML.visit(doc, {
      Scalar(_, node) {
        if (typeof node.value === 'number' && (node.format !== undefined || !Number.isFinite(node.value))) node.value = node.source;
      },
    });
    return { path, data: doc.toJS() ?? {} };
  } catch (err) {
    throw new ConfigError([`--config ${path}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}. Fix: correct the file.`]);
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
    if (!name.startsWith(ENV_PREFIX) || value === undefined || NOT_SETTINGS.has(name)) continue;
    const path = envNameToPath(name);
    const leaf = fieldAt(path);
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
    const leaf = fieldAt(path);
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
/** Variables of our prefix that are not settings: the kind harness's cache directory (hack/lib.sh). */
const NOT_SETTINGS = new Set(['CRI_MIGRATOR_CACHE']);

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

function explainIssue(issue: z.ZodIssue, raw: Record<string, unknown>, origins: Map<string, Origin>): string[] {
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
  const help = fieldAt(path)?.description || nearestDescription(path);
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
    const description = fieldAt(path.slice(0, i))?.description;
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

/** Env and --set values are strings; turn them into what the field expects (JSON for lists and maps). */
function coerce(text: string, field: Field): unknown {
  const trimmed = text.trim();
  const { types } = field;
  // "null" selects a nullable field's "use the built-in behaviour" value (e.g. drain.gracePeriodSeconds).
  if (trimmed === 'null' && types.has('null')) return null;
  // Plain decimal only: Number() would also take "0x10", "1e3" or " ", which nobody means here.
  if ((types.has('number') || types.has('integer')) && /^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (types.has('boolean') && (trimmed === 'true' || trimmed === 'false')) return trimmed === 'true';
  if (types.has('array')) {
    if (trimmed.startsWith('[')) return tryJson(trimmed);
    return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
  }
  if (types.has('object')) return tryJson(trimmed);
  return types.has('string') ? text : trimmed === 'null' ? null : text;
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
  return fieldAt(path)?.map === true;
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
  const keys = fieldAt(parent)?.children;
  if (!keys) return '';
  const wanted = path[path.length - 1]!.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const key of keys) {
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
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  return leafFields().map(({ path, field }) => ({ path: path.join('.'), env: pathToEnvName(path), defaultValue: getPath(defaults, path), description: field.description }));
}
