// npm run chart:sync: rewrites the generated files of charts/cri-migrator from manifests/ (and
// package.json's version), and removes generated templates whose manifest is gone.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CHART_DIR, chartFiles, readChartSource } from './chart-from-manifests.js';

const root = new URL('../', import.meta.url);
const chart = new URL(`${CHART_DIR}/`, root);
const files = chartFiles(readChartSource(root));
let changed = 0;
for (const [path, text] of files) {
  const url = new URL(path, chart);
  if (existsSync(url) && readFileSync(url, 'utf8') === text) continue;
  mkdirSync(dirname(url.pathname), { recursive: true });
  writeFileSync(url, text);
  console.log(`${CHART_DIR}/${path}: written`);
  changed++;
}
for (const name of readdirSync(new URL('templates/', chart))) {
  const path = `templates/${name}`;
  if (!files.has(path) && readFileSync(new URL(path, chart), 'utf8').startsWith('# GENERATED from ')) {
    rmSync(new URL(path, chart));
    console.log(`${CHART_DIR}/${path}: removed (its manifest is gone)`);
    changed++;
  }
}
console.log(changed ? `${CHART_DIR}: ${changed} file(s) updated from manifests/` : `${CHART_DIR}: up to date with manifests/`);
