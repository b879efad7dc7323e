// Reads and edits the kubelet's YAML config files (/var/lib/kubelet/config.yaml and kubeadm's
// /var/lib/kubelet/instance-config.yaml, KEP-4656) without losing their comments or layout.
import YAML from 'yaml';
import { CONTAINERD_SOCKET } from '../domain/annotations.js';

export type CgroupDriver = 'systemd' | 'cgroupfs';

export interface KubeletConfigFacts {
  cgroupDriver?: CgroupDriver;
  containerRuntimeEndpoint?: string;
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
  // Edit the one line where the key sits at the top level in block style (what kubeadm writes), so
  // the diff is that line and nothing else; check the result says what we meant.
  const line = /^containerRuntimeEndpoint:.*$/gm;
  if ((text.match(line) ?? []).length === 1) {
    const edited = text.replace(line, `containerRuntimeEndpoint: ${CONTAINERD_SOCKET}`);
    const check = YAML.parseDocument(edited);
    if (check.errors.length === 0 && check.get('containerRuntimeEndpoint') === CONTAINERD_SOCKET) return edited;
  }
  // Any other layout: re-serialize, keeping the file's style of sequence indentation.
  doc.set('containerRuntimeEndpoint', CONTAINERD_SOCKET);
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
