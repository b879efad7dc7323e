// Rewrites the kubelet's command-line flags for containerd, by kubelet version (1.20 .. 1.34).
//
// Decisions (see also design.md "Domain facts"):
// - Dockershim-only flags are dropped: kubelet 1.24+ refuses to start with them.
// - --container-runtime-endpoint is always set in kubeadm-flags.env. It is deprecated from 1.27 in
//   favour of containerRuntimeEndpoint in the kubelet config file, but still honoured through the
//   versions we support, and flags win over the config file; kubeadm itself keeps writing the flag.
//   Where a config file (config.yaml, instance-config.yaml) already carries containerRuntimeEndpoint
//   we rewrite it as well (kubelet-config.ts) so no file is left pointing at Docker.
// - --container-runtime=remote only for kubelet <= 1.26; the flag was removed in 1.27.
// - --pod-infra-container-image is kept when present (it pins the pause image against image GC
//   on containerd 1.x), set to the sandbox image so both agree; it is dropped from 1.35, which
//   removed the flag.
import { CONTAINERD_SOCKET } from '../domain/annotations.js';
import { atLeast, type MinorVersion } from '../domain/version.js';

/** Flags that only dockershim understood (removed from the kubelet in 1.24). */
const DOCKERSHIM_FLAGS = new Set([
  '--network-plugin',
  '--network-plugin-mtu',
  '--cni-bin-dir',
  '--cni-conf-dir',
  '--cni-cache-dir',
  '--docker',
  '--docker-endpoint',
  '--docker-disable-shared-pid',
  '--image-pull-progress-deadline',
  '--experimental-dockershim',
  '--experimental-dockershim-root-directory',
  '--dockershim-root-directory',
  '--redirect-container-streaming',
]);

/** Flags that name the runtime; we set them ourselves. */
const RUNTIME_FLAGS = new Set(['--container-runtime', '--container-runtime-endpoint', '--image-service-endpoint']);

const POD_INFRA_FLAG = '--pod-infra-container-image';

/** Boolean flags never consume the next word as their value. */
const BOOLEAN_FLAGS = new Set(['--experimental-dockershim', '--docker-disable-shared-pid', '--redirect-container-streaming']);

export interface KubeletArgsOptions {
  kubeletVersion: MinorVersion;
  sandboxImage: string;
  /** kubeadm-flags.env: make sure the endpoint is set. KUBELET_EXTRA_ARGS: only fix what is there. */
  ensureEndpoint: boolean;
}

export interface ParsedFlag {
  name: string;
  value?: string;
  /** The original text, kept for flags we do not touch. */
  raw: string[];
}

/** Split a flags string into words, honouring single and double quotes. */
export function splitArgs(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} quote in kubelet flags: ${text}`);
  if (inWord) words.push(current);
  return words;
}

/** Group words into flags: "--a=b", "--a b" (for flags we know take a value), "--bool". */
export function parseFlags(words: readonly string[]): ParsedFlag[] {
  const flags: ParsedFlag[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('-')) {
      flags.push({ name: '', value: word, raw: [word] });
      continue;
    }
    const eq = word.indexOf('=');
    if (eq > 0) {
      flags.push({ name: normalizeName(word.slice(0, eq)), value: word.slice(eq + 1), raw: [word] });
      continue;
    }
    const name = normalizeName(word);
    const next = words[i + 1];
    const known = DOCKERSHIM_FLAGS.has(name) || RUNTIME_FLAGS.has(name) || name === POD_INFRA_FLAG;
    if (known && !BOOLEAN_FLAGS.has(name) && next !== undefined && !next.startsWith('-')) {
      flags.push({ name, value: next, raw: [word, next] });
      i++;
    } else {
      flags.push({ name, raw: [word] });
    }
  }
  return flags;
}

/** "-network-plugin" (Go's flag package accepts one dash) -> "--network-plugin". */
function normalizeName(name: string): string {
  return name.startsWith('--') ? name : `-${name}`;
}

export function flagValue(words: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (const flag of parseFlags(words)) if (flag.name === name) value = flag.value; // the last one wins, as in the kubelet
  return value;
}

/** The rewritten words for containerd. Idempotent: rewriting its own output changes nothing. */
export function rewriteKubeletArgs(words: readonly string[], options: KubeletArgsOptions): string[] {
  const { kubeletVersion: version } = options;
  const flags = parseFlags(words);
  const hadRuntimeFlags = flags.some((f) => f.name === '--container-runtime' || f.name === '--container-runtime-endpoint');
  const hadPodInfra = flags.some((f) => f.name === POD_INFRA_FLAG);
  const out: string[] = [];
  for (const flag of flags) {
    if (DOCKERSHIM_FLAGS.has(flag.name) || RUNTIME_FLAGS.has(flag.name) || flag.name === POD_INFRA_FLAG) continue;
    out.push(...flag.raw);
  }
  if (options.ensureEndpoint || hadRuntimeFlags) {
    if (!atLeast(version, 1, 27)) out.push('--container-runtime=remote');
    out.push(`--container-runtime-endpoint=${CONTAINERD_SOCKET}`);
  }
  if (hadPodInfra && !atLeast(version, 1, 35)) out.push(`${POD_INFRA_FLAG}=${options.sandboxImage}`);
  return out;
}

export interface EnvFileEdit {
  /** The variable holding the flags, e.g. KUBELET_KUBEADM_ARGS. */
  variable: string;
  options: KubeletArgsOptions;
}

/**
 * Rewrite one variable of a systemd EnvironmentFile (kubeadm-flags.env, /etc/default/kubelet),
 * keeping every other line. A missing file (null) or missing variable is created only when the
 * endpoint must be ensured.
 */
export function rewriteEnvFile(text: string | null, edit: EnvFileEdit): string | null {
  const lines = text === null ? [] : text.replace(/\n$/, '').split('\n');
  const pattern = new RegExp(`^(\\s*(?:export\\s+)?${edit.variable}\\s*=\\s*)(.*)$`);
  let found = false;
  const rewritten = lines.map((line) => {
    const match = pattern.exec(line);
    if (!match) return line;
    found = true;
    const words = splitArgs(unquoteEnvValue(match[2]!));
    return `${edit.variable}="${rewriteKubeletArgs(words, edit.options).map(quoteIfNeeded).join(' ')}"`;
  });
  if (!found) {
    if (!edit.options.ensureEndpoint) return text;
    rewritten.push(`${edit.variable}="${rewriteKubeletArgs([], edit.options).join(' ')}"`);
  }
  return `${rewritten.join('\n')}\n`;
}

/** Read a variable's flags out of an EnvironmentFile. */
export function envFileArgs(text: string | null, variable: string): string[] {
  if (text === null) return [];
  const pattern = new RegExp(`^\\s*(?:export\\s+)?${variable}\\s*=\\s*(.*)$`);
  let words: string[] = [];
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (match) words = splitArgs(unquoteEnvValue(match[1]!));
  }
  return words;
}

/** systemd EnvironmentFile quoting: VAR="a b" and VAR='a b' hold the text between the quotes. */
export function unquoteEnvValue(raw: string): string {
  const value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\(["\\])/g, '$1');
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  return value;
}

function quoteIfNeeded(word: string): string {
  // Inside the double-quoted value a word with spaces needs its own single quotes.
  return /[\s"]/.test(word) ? `'${word}'` : word;
}
