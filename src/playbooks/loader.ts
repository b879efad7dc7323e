// Loads the one playbook (playbooks/migrate.yaml): the shared steps, and per source the data
// and assertions that differ. forSource() gives the steps as they run on one node.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { SourceRuntime } from '../domain/types.js';
import { PlaybookSchema, type Assert, type Playbook, type Step } from './schema.js';

export const PLAYBOOK_FILE = 'migrate.yaml';

/** The playbook as it applies to one source runtime. */
export interface SourcePlaybook {
  source: SourceRuntime;
  /** The shared assertions, then the source's own. */
  preflight: readonly Assert[];
  steps: readonly Step[];
  dockerUnits: readonly string[];
}

export interface PlaybookSet {
  playbook: Playbook;
  path: string;
  /** sha256 of the file, recorded on the node with the config hash: any step's change changes it. */
  sha256: string;
  forSource(source: SourceRuntime): SourcePlaybook;
}

export function parsePlaybook(text: string, path: string): PlaybookSet {
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
  const playbook = parsed.data;
  return {
    playbook,
    path,
    sha256: createHash('sha256').update(text).digest('hex'),
    forSource(source) {
      const own = playbook.sources[source];
      return { source, preflight: [...playbook.preflight, ...own.preflight], steps: playbook.steps, dockerUnits: own.dockerUnits };
    },
  };
}

/** playbooksDir/migrate.yaml. */
export function loadPlaybooks(dir: string): PlaybookSet {
  const path = join(dir, PLAYBOOK_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read playbook ${path}: check playbooksDir`, { cause: err });
  }
  return parsePlaybook(text, path);
}
