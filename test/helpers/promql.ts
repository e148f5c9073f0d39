import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics/index.js';
import { CHART } from './helm.js';

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'atan2', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions, keywords,
 * label names (in `{...}` or in `by (...)`-style lists), durations or Grafana variables.
 * Small on purpose; enough for the dashboard's and the alerts' expressions.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.])[A-Za-z_:][\w:]*/g)) {
    const rest = stripped.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith('(') || KEYWORDS.has(match[0])) continue;
    names.push(match[0]);
  }
  return [...new Set(names)];
}

/**
 * Every series name corridor exports, from src/metrics (default process metrics off): the
 * names as registered, plus _bucket, _sum and _count for histograms.
 */
export function corridorSeriesNames(): Set<string> {
  const registry = new Registry();
  createMetrics(registry, 'x', { defaultMetrics: false });
  const names = new Set<string>();
  for (const metric of registry.getMetricsAsArray()) {
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    else names.add(metric.name);
  }
  return names;
}

/** The Grafana dashboard's JSON text (helm/corridor/dashboards/corridor.json). */
export function dashboardText(): string {
  return readFileSync(join(CHART, 'dashboards/corridor.json'), 'utf8');
}

/** Every "expr" string anywhere in a parsed dashboard (panel targets, rows' nested panels). */
export function exprsIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprsIn);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) => (key === 'expr' && typeof value === 'string' ? [value] : exprsIn(value)));
}

/**
 * A dashboard query as Grafana sends it to Prometheus: `$instance` replaced by the variable's
 * value (its "All" value `.*` by default) and `$__rate_interval` by a range.
 */
export function asGrafanaSends(expr: string, values: { instance?: string; rateInterval?: string } = {}): string {
  return expr.replaceAll('$__rate_interval', values.rateInterval ?? '1m').replace(/\$\{?instance\}?/g, values.instance ?? '.*');
}
