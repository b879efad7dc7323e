// dashboards/cri-migrator.json queries only what the controller exports, and shows all of it:
// every PromQL expression is parsed with Prometheus's own grammar (@prometheus-io/lezer-promql),
// its metric names are checked against the registry src/controller/metrics.ts builds, and the
// JSON has the structure Grafana imports (panels with a datasource, targets, unique ids).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { beforeAll, describe, expect, it } from 'vitest';
import { controllerMetrics } from '../../src/controller/metrics.js';

/**
 * Metrics the rollout work adds (the halted/blocked gauges). The dashboard has their panels
 * already; the test lets them be missing from the registry ONLY while no file under src/ names
 * them, so it enforces them like the others as soon as they exist.
 */
const ADDED_BY_ROLLOUT_WORK = ['cri_migrator_rollout_halted', 'cri_migrator_rollout_blocked'];

/** Grafana's own variables, given a value that PromQL parses (durations). */
const GRAFANA_VARIABLES: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '6h', __range_s: '21600' };
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

type Panel = { id: number; type: string; title: string; datasource?: unknown; gridPos: { x: number; y: number; w: number; h: number }; targets?: Target[]; panels?: Panel[] };
type Target = { refId: string; expr: string; datasource?: unknown };

const dashboard = JSON.parse(readFileSync(new URL('../../dashboards/cri-migrator.json', import.meta.url), 'utf8'));
const allPanels: Panel[] = (dashboard.panels as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = allPanels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
const variables = new Set<string>(dashboard.templating.list.map((v: { name: string }) => v.name));

/** The dashboard's variables replaced ($x, ${x}); a variable neither Grafana's nor the dashboard's is an error. */
function substitute(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (name in GRAFANA_VARIABLES) return GRAFANA_VARIABLES[name]!;
    if (variables.has(name)) return whole; // only used inside label matcher strings here
    throw new Error(`unknown variable $${name} in ${expr}`);
  });
}

/** Metric names an expression selects, or the first syntax error. */
function metricNames(expr: string): string[] {
  const promql = substitute(expr);
  const tree = parser.parse(promql);
  const names: string[] = [];
  let error: number | undefined;
  tree.iterate({
    enter: (node) => {
      if (node.type.isError && error === undefined) error = node.from;
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(promql.slice(id.from, id.to));
        else throw new Error(`select by metric name, not {__name__=...}: ${expr}`);
      }
    },
  });
  if (error !== undefined) throw new Error(`PromQL syntax error at ${error}: ${promql.slice(0, error)} <here> ${promql.slice(error)}`);
  return names;
}

/** name -> type of every metric family the controller's registry exposes. */
async function exportedMetrics(): Promise<Map<string, string>> {
  // The registry's own exposition (`# TYPE name type` for every family, samples or not).
  const registry = (controllerMetrics as unknown as () => { registry: Record<string, () => Promise<string> | string> })().registry;
  const expose = registry.metrics ?? registry.expose;
  if (typeof expose !== 'function') throw new Error('controllerMetrics().registry has neither metrics() nor expose()');
  const text = await expose.call(registry);
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

function srcFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? srcFiles(p) : [p];
  });
}

describe('dashboards/cri-migrator.json', () => {
  let exported: Map<string, string>;
  beforeAll(async () => {
    exported = await exportedMetrics();
  });

  /** The family a queried series belongs to: histograms expose NAME_bucket, NAME_sum and NAME_count. */
  const family = (name: string) => {
    if (exported.has(name)) return name;
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    return m && ['histogram', 'summary'].includes(exported.get(m[1]!) ?? '') && (m[2] !== 'bucket' || exported.get(m[1]!) === 'histogram') ? m[1]! : undefined;
  };

  it('reads the registry (the test would prove nothing if it found no metric)', () => {
    expect(exported.get('cri_migrator_nodes')).toBe('gauge');
    expect(exported.get('cri_migrator_migration_duration_seconds')).toBe('histogram');
  });

  it('has panels with a datasource, targets, unique ids and places on the 24-column grid', () => {
    expect(dashboard.uid).toBe('cri-migrator');
    expect(queryPanels.length).toBeGreaterThan(5);
    const ids = allPanels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of queryPanels) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, `${p.title}: refIds`).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.datasource, `${p.title} ${t.refId}`).toEqual(DATASOURCE);
        expect(t.expr, `${p.title} ${t.refId}`).toMatch(/\S/);
      }
    }
    for (const p of allPanels) {
      const g = p.gridPos;
      expect(g.x >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24, `${p.title} gridPos ${JSON.stringify(g)}`).toBe(true);
    }
    // No two panels overlap.
    const cells = new Map<string, string>();
    for (const p of allPanels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const k = `${x},${y}`;
          expect(cells.get(k), `${p.title} overlaps ${cells.get(k)} at ${k}`).toBeUndefined();
          cells.set(k, p.title);
        }
      }
    }
  });

  it('picks the Prometheus data source by a variable, and defines every variable it uses', () => {
    const ds = dashboard.templating.list.find((v: { name: string }) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const t of targets) expect(() => substitute(t.expr), `${t.panel} ${t.refId}`).not.toThrow();
  });

  it('parses every PromQL expression', () => {
    for (const t of targets) expect(() => metricNames(t.expr), `${t.panel} ${t.refId}: ${t.expr}`).not.toThrow();
    // The parser does find errors.
    expect(() => metricNames('sum(rate(cri_migrator_rollbacks_total[5m])')).toThrow(/syntax error/);
  });

  it('queries only metrics the controller exports (histograms by _bucket, _sum, _count)', () => {
    const code = srcFiles(new URL('../../src', import.meta.url).pathname).map((f) => readFileSync(f, 'utf8')).join('\n');
    const unknown: string[] = [];
    for (const t of targets) {
      for (const name of metricNames(t.expr)) {
        if (family(name)) continue;
        if (ADDED_BY_ROLLOUT_WORK.includes(name) && !code.includes(name)) continue; // not written yet
        unknown.push(`${t.panel} ${t.refId}: ${name}`);
      }
    }
    expect(unknown, 'queried, but not in controllerMetrics().registry').toEqual([]);
    const pending = ADDED_BY_ROLLOUT_WORK.filter((n) => !exported.has(n));
    if (pending.length < ADDED_BY_ROLLOUT_WORK.length) {
      console.warn(`dashboard.test.ts: ${ADDED_BY_ROLLOUT_WORK.filter((n) => exported.has(n)).join(', ')} now exported and checked: drop them from ADDED_BY_ROLLOUT_WORK`);
    }
  });

  it('shows every cri_migrator_ metric the controller exports, and the rollout halted/blocked gauges', () => {
    const queried = new Set(targets.flatMap((t) => metricNames(t.expr)).map((n) => family(n) ?? n));
    const ours = [...exported.keys()].filter((n) => n.startsWith('cri_migrator_'));
    for (const name of [...ours, ...ADDED_BY_ROLLOUT_WORK]) expect(queried.has(name), `no panel queries ${name}`).toBe(true);
  });
});
