// The README's configuration reference, generated from the zod schema (describeConfigFields), so
// the documentation cannot drift from the code: `npm run docs:config` rewrites it, and a unit test
// fails when the README is stale. Pure.
import { fileURLToPath } from 'node:url';
import { describeConfigFields } from '../config.js';

export const BEGIN_MARKER = '<!-- BEGIN GENERATED: config reference (npm run docs:config) -->';
export const END_MARKER = '<!-- END GENERATED: config reference -->';

/** The package directory, shown as <install dir> (the default playbooksDir is inside it). */
const INSTALL_DIR = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function formatDefault(value: unknown): string {
  const text = typeof value === 'string' && value.startsWith(`${INSTALL_DIR}/`) ? `<install dir>/${value.slice(INSTALL_DIR.length + 1)}` : JSON.stringify(value);
  return `\`${cell(text)}\``;
}

export function configReferenceMarkdown(fields = describeConfigFields()): string {
  const rows = fields.map((f) => `| \`${f.path}\` | ${formatDefault(f.defaultValue)} | \`${f.env}\` | ${cell(f.description)} |`);
  return ['| Field | Default | Environment variable | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The document with the text between the markers replaced by the generated reference. */
export function withConfigReference(document: string, reference = configReferenceMarkdown()): string {
  const begin = document.indexOf(BEGIN_MARKER);
  const end = document.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`the document lacks the markers ${BEGIN_MARKER} ... ${END_MARKER}`);
  return `${document.slice(0, begin + BEGIN_MARKER.length)}\n${reference}\n${document.slice(end)}`;
}
