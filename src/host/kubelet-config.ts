// Reads and edits the kubelet's YAML config files (/var/lib/kubelet/config.yaml and kubeadm's
// /var/lib/kubelet/instance-config.yaml, KEP-4656) without losing their comments or layout.
import YAML from 'yaml';
import { CONTAINERD_SOCKET } from '../domain/annotations.js';

export type CgroupDriver = 'systemd' | 'cgroupfs';

export interface KubeletConfigFacts {
  cgroupDriver?: CgroupDriver;
  containerRuntimeEndpoint?: string;
  /** As written (a quantity such as 10Mi), when the file sets it. */
  containerLogMaxSize?: string;
  containerLogMaxFiles?: number;
}

export function readKubeletConfig(text: string | null, path: string): KubeletConfigFacts {
  if (text === null || text.trim() === '') return {};
  const doc = parseDocument(text, path);
  const facts: KubeletConfigFacts = {};
  const driver = doc.get('cgroupDriver');
  if (driver !== undefined) {
    if (driver !== 'systemd' && driver !== 'cgroupfs') {
      throw new Error(`${path}: cgroupDriver is ${JSON.stringify(driver)}, expected systemd or cgroupfs`);
    }
    facts.cgroupDriver = driver;
  }
  const endpoint = doc.get('containerRuntimeEndpoint');
  if (typeof endpoint === 'string') facts.containerRuntimeEndpoint = endpoint;
  const maxSize = doc.get('containerLogMaxSize');
  if (typeof maxSize === 'string' || typeof maxSize === 'number') facts.containerLogMaxSize = String(maxSize);
  const maxFiles = doc.get('containerLogMaxFiles');
  if (typeof maxFiles === 'number') facts.containerLogMaxFiles = maxFiles;
  return facts;
}

/**
 * Point containerRuntimeEndpoint at containerd where the file already sets it. Returns the new text,
 * or null when the file does not exist or does not carry the field (then the flag decides).
 */
export function rewriteRuntimeEndpoint(text: string | null, path: string): string | null {
  if (text === null) return null;
  const doc = parseDocument(text, path);
  if (!doc.has('containerRuntimeEndpoint')) return null;
  return setTopLevelFields(text, path, { containerRuntimeEndpoint: CONTAINERD_SOCKET });
}

/**
 * Set top-level scalar fields of a kubelet config file, keeping everything else as it is: a field
 * that sits on one top-level block-style line (what kubeadm writes) has that line replaced, a
 * missing one is appended; the result is checked to say what was meant. Any other layout is
 * re-serialized, keeping the file's style of sequence indentation.
 */
export function setTopLevelFields(text: string, path: string, fields: Readonly<Record<string, string | number>>): string {
  const doc = parseDocument(text, path);
  let edited = text;
  for (const [key, value] of Object.entries(fields)) {
    const line = `${key}: ${typeof value === 'number' ? value : YAML.stringify(value).trimEnd()}`;
    const pattern = new RegExp(`^${key}:.*$`, 'gm');
    const count = (edited.match(pattern) ?? []).length;
    if (count === 1) edited = edited.replace(pattern, line);
    else if (count === 0 && !doc.has(key) && doc.contents !== null && !/^\{/.test(edited.trimStart())) {
      edited = `${edited}${edited === '' || edited.endsWith('\n') ? '' : '\n'}${line}\n`;
    } else {
      edited = '';
      break;
    }
  }
  if (edited !== '') {
    const check = YAML.parseDocument(edited);
    if (check.errors.length === 0 && Object.entries(fields).every(([key, value]) => check.get(key) === value)) return edited;
  }
  for (const [key, value] of Object.entries(fields)) doc.set(key, value);
  return doc.toString({ indentSeq: !/^- /m.test(text) });
}

function parseDocument(text: string, path: string): YAML.Document {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    throw new Error(`${path} is not valid YAML: ${doc.errors[0]!.message}`);
  }
  if (doc.contents !== null && !YAML.isMap(doc.contents)) {
    throw new Error(`${path}: expected a mapping at the top level`);
  }
  return doc;
}
