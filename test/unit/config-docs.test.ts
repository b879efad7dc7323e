import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BEGIN_MARKER, configReferenceMarkdown, END_MARKER, withConfigReference } from '../../src/cli/config-docs.js';
import { describeConfigFields } from '../../src/config.js';

describe('configuration reference', () => {
  it('has one row per schema field, with its default, variable and description', () => {
    const table = configReferenceMarkdown();
    const rows = table.split('\n').slice(2);
    expect(rows).toHaveLength(describeConfigFields().length);
    expect(rows).toContain('| `drain.timeoutSeconds` | `900` | `CRI_MIGRATOR_DRAIN__TIMEOUT_SECONDS` | Overall time limit for draining one node, counted from the first attempt across all attempts; when it passes the node is rolled back. |');
    expect(rows).toContain(
      "| `playbooksDir` | `<install dir>/playbooks` | `CRI_MIGRATOR_PLAYBOOKS_DIR` | Directory holding migrate.yaml, the remote steps (written once for every source runtime, with per-source data). |",
    );
    expect(table).toContain('| `metricsPort` | `8080` |');
  });

  it('escapes table syntax in descriptions and defaults', () => {
    const table = configReferenceMarkdown([{ path: 'x', env: 'X', defaultValue: 'a|b', description: 'one | two\nthree' }]);
    expect(table.split('\n')[2]).toBe('| `x` | `"a\\|b"` | `X` | one \\| two three |');
  });

  it('replaces only the text between the markers, and needs them', () => {
    const doc = `intro\n${BEGIN_MARKER}\nold\n${END_MARKER}\noutro\n`;
    expect(withConfigReference(doc, 'NEW')).toBe(`intro\n${BEGIN_MARKER}\nNEW\n${END_MARKER}\noutro\n`);
    expect(() => withConfigReference('no markers')).toThrow(/lacks the markers/);
  });

  it('README.md is up to date with the schema (run npm run docs:config)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withConfigReference(readme)).toBe(readme);
  });
});
