// npm run docs:config: rewrites the configuration reference in README.md from the zod schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigReference } from '../src/cli/config-docs.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withConfigReference(before);
if (after === before) {
  console.log('README.md: configuration reference is up to date');
} else {
  writeFileSync(path, after);
  console.log('README.md: configuration reference rewritten');
}
