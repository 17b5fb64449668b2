import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busMetrics } from '@flotilla/bus';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { auditMetrics } from '../../services/audit-writer/src/metrics.ts';
import { applierMetrics } from '../../services/cluster-applier/src/metrics.ts';
import { watcherMetrics as gitWatcherMetrics } from '../../services/git-watcher/src/metrics.ts';
import { registerPlannerMetrics } from '../../services/planner/src/metrics.ts';
import { watcherMetrics as registryWatcherMetrics } from '../../services/registry-watcher/src/metrics.ts';

// Every metric an alert rule reads must be one a service registers: a rule on a renamed or
// never-exported metric matches nothing and never fires, which no scrape would reveal.
const root = join(import.meta.dirname, '..', '..');
const RULES = join(root, 'deploy', 'prometheus', 'prometheus-rules.yaml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * Each service's /metrics registry, built by the registration calls its service.ts makes on
 * `server.registry` (`wiring`, checked against the source below), plus what every service has:
 * the bus's metrics and prom-client's default process metrics (createServiceServer).
 */
const SERVICES: Record<string, { wiring: string[]; register: (r: Registry) => void }> = {
  'audit-writer': {
    wiring: ['auditMetrics(server.registry'],
    register: (r) => auditMetrics(r, () => ({ records: 0, seconds: 0 })),
  },
  'cluster-applier': { wiring: ['applierMetrics(server.registry)'], register: (r) => applierMetrics(r) },
  'git-watcher': { wiring: ['watcherMetrics(server.registry)'], register: (r) => gitWatcherMetrics(r) },
  'registry-watcher': {
    wiring: ['watcherMetrics(server.registry)'],
    register: (r) => registryWatcherMetrics(r),
  },
  planner: {
    wiring: ['registerPlannerMetrics(server.registry'],
    register: (r) => registerPlannerMetrics(r, { rendering: () => [], pendingRenders: () => 0 }),
  },
};

function registryOf(service: string): Registry {
  const r = new Registry();
  collectDefaultMetrics({ register: r });
  busMetrics(r);
  SERVICES[service]?.register(r);
  return r;
}

const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/**
 * The metric selectors of a PromQL expression: name plus the label names its matchers use.
 * Small on purpose (the rules are ours): strings, ranges and grouping clauses are cut out, and a
 * name followed by `(` is a function or aggregation, not a metric.
 */
function selectors(expr: string): { metric: string; labels: string[] }[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: { metric: string; labels: string[] }[] = [];
  const token = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?/g;
  for (const m of text.matchAll(token)) {
    const [, name = '', matchers, call] = m;
    if (call || PROMQL_WORDS.has(name.toLowerCase())) continue;
    if (m.index > 0 && /[0-9.]/.test(text[m.index - 1] ?? '')) continue; // 1e3, 5m
    const labels = [...(matchers ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map(
      (l) => l[1] ?? '',
    );
    out.push({ metric: name, labels });
  }
  return out;
}

/** Names a registry exposes, histograms and summaries with their series suffixes, with label names. */
async function exposed(r: Registry): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const m of await r.getMetricsAsJSON()) {
    const labels = new Set<string>(
      (r.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [],
    );
    for (const v of m.values) for (const l of Object.keys(v.labels)) labels.add(l);
    out.set(m.name, labels);
    const type = String(m.type);
    if (type === 'histogram' || type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count'])
        out.set(`${m.name}${suffix}`, new Set([...labels, 'le']));
  }
  return out;
}

const rules = (
  parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
).groups.flatMap((g) => g.rules.map((rule) => ({ group: g.name, ...rule })));

describe('deploy/prometheus/prometheus-rules.yaml', () => {
  it('finds metric selectors in PromQL, not functions, keywords, strings or durations', () => {
    expect(
      selectors(
        'sum by (instance) (increase(a_total{code="x y", b!~"z"}[15m])) > 0 unless on (job) b_seconds_bucket offset 5m and 1e3 < c',
      ),
    ).toEqual([
      { metric: 'a_total', labels: ['code', 'b'] },
      { metric: 'b_seconds_bucket', labels: [] },
      { metric: 'c', labels: [] },
    ]);
  });

  it('has alerts, each with a severity, a service, a summary and a description', () => {
    expect(rules.length).toBeGreaterThan(10);
    for (const r of rules) {
      expect(r.alert, `${r.group}: every rule is an alert`).toMatch(/^Flotilla[A-Za-z]+$/);
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(['any', ...Object.keys(SERVICES)], r.alert).toContain(r.labels?.service);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      if (r.for) expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('reads only metrics (and labels) that the service named in the rule registers', async () => {
    const byService = new Map<string, Map<string, Set<string>>>();
    for (const service of Object.keys(SERVICES)) byService.set(service, await exposed(registryOf(service)));
    const missing: string[] = [];
    let checked = 0;
    for (const r of rules) {
      const service = r.labels?.service ?? '';
      // `any`: the bus metrics, which every service exports; the rule must hold for each of them.
      const targets = service === 'any' ? [...byService.keys()] : [service];
      const found = selectors(r.expr);
      expect(found.length, `${r.alert} reads no metric`).toBeGreaterThan(0);
      for (const sel of found) {
        for (const target of targets) {
          checked++;
          const labels = byService.get(target)?.get(sel.metric);
          if (!labels) missing.push(`${r.alert}: ${sel.metric} is not exported by ${target}`);
          else
            for (const l of sel.labels)
              if (!labels.has(l)) missing.push(`${r.alert}: ${sel.metric} has no label "${l}" in ${target}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(rules.length);
  });

  it("builds each service's registry the way its service.ts does", () => {
    for (const [service, { wiring }] of Object.entries(SERVICES)) {
      const source = readFileSync(join(root, 'services', service, 'src', 'service.ts'), 'utf8');
      for (const call of wiring) expect(source, `services/${service}/src/service.ts`).toContain(call);
      // The bus's metrics (consumer backlog, dead letters) land on the same /metrics registry.
      expect(source, `services/${service}/src/service.ts`).toMatch(/metrics: server\.registry/);
    }
  });
});
