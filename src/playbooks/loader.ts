import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { SourceRuntime } from '../domain/types.js';
import { PlaybookSchema, type Playbook } from './schema.js';

export interface LoadedPlaybook {
  playbook: Playbook;
  path: string;
  /** sha256 of the file, recorded on the node with the config hash. */
  sha256: string;
}

export type PlaybookSet = Readonly<Record<SourceRuntime, LoadedPlaybook>>;

export function parsePlaybook(text: string, path: string): LoadedPlaybook {
  let data: unknown;
  try {
    data = YAML.parse(text);
  } catch (err) {
    throw new Error(`playbook ${path} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = PlaybookSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new Error(`playbook ${path} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
  return { playbook: parsed.data, path, sha256: createHash('sha256').update(text).digest('hex') };
}

export function loadPlaybook(path: string): LoadedPlaybook {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read playbook ${path}: check playbooksDir`, { cause: err });
  }
  return parsePlaybook(text, path);
}

/** dockershim.yaml and cri-dockerd.yaml from dir; each must declare the source its name says. */
export function loadPlaybooks(dir: string): PlaybookSet {
  const load = (source: SourceRuntime) => {
    const loaded = loadPlaybook(join(dir, `${source}.yaml`));
    if (loaded.playbook.source !== source) {
      throw new Error(`playbook ${loaded.path} declares source ${loaded.playbook.source}, expected ${source}`);
    }
    return loaded;
  };
  return { dockershim: load('dockershim'), 'cri-dockerd': load('cri-dockerd') };
}
