import t, { type Test } from 'tap';
import { findHelm, only, renderChart } from '../helpers/helm.js';
import { corridorSeriesNames, dashboardText as readDashboard, exprsIn, metricNames } from '../helpers/promql.js';

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
}

const known = corridorSeriesNames();
const dashboardText = readDashboard();

/** `also`: series Prometheus itself writes (up), which the alerts may select too. */
function checkExprs(t: Test, exprs: readonly string[], also: readonly string[] = []): void {
  for (const expr of exprs) {
    const names = metricNames(expr);
    t.ok(names.length > 0, `selects at least one metric: ${expr}`);
    t.same(names.filter((name) => !known.has(name) && !also.includes(name)), [], `only corridor's metrics: ${expr}`);
  }
}

t.test('the metric-name check catches a name src/metrics does not export', async (t) => {
  t.same(metricNames('sum by (route) (rate(corridor_request_total{code=~"5.."}[$__rate_interval])) > 0'), ['corridor_request_total']);
  t.same(metricNames('histogram_quantile(0.99, sum by (le) (rate(corridor_sts_call_duration_seconds_bucket[5m])))'), ['corridor_sts_call_duration_seconds_bucket']);
  t.same(metricNames('count(corridor_ready == 0) or vector(0)'), ['corridor_ready']);
  t.notOk(known.has('corridor_request_total'));
  t.ok(known.has('corridor_requests_total') && known.has('corridor_request_duration_seconds_bucket'), 'counters as named, histograms with _bucket');
});

t.test('the Grafana dashboard parses and its queries use only metrics src/metrics exports', async (t) => {
  const dashboard = JSON.parse(dashboardText) as { uid: string; title: string; panels: unknown[] };
  t.equal(dashboard.uid, 'corridor');
  const exprs = exprsIn(dashboard.panels);
  t.ok(exprs.length >= 10, `${exprs.length} queries`);
  checkExprs(t, exprs);
  const used = new Set(exprs.flatMap(metricNames));
  for (const name of [
    'corridor_requests_total',
    'corridor_decisions_total',
    'corridor_sts_call_duration_seconds_bucket',
    'corridor_sts_calls_total',
    'corridor_session_min_remaining_seconds',
    'corridor_credential_cache_total',
  ]) {
    t.ok(used.has(name), `a panel shows ${name}`);
  }
});

const found = findHelm(t);
if (!found.ok) {
  t.test('the alert rules (needs helm)', { skip: `helm not available: ${found.reason}` }, async () => {});
} else {
  const bin = found.bin;

  t.test('the PrometheusRule has the six alerts, on metrics src/metrics exports and the agents\' up', async (t) => {
    const rule = only(renderChart(bin, { 'metrics.prometheusRule.enabled': true }), 'PrometheusRule') as unknown as { spec: { groups: { rules: Rule[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    t.same(rules.map((r) => r.alert), ['CorridorAgentDown', 'CorridorAgentsAbsent', 'CorridorNotReady', 'CorridorStsErrors', 'CorridorCredentialLifetimeLow', 'CorridorDenialsSpike']);
    checkExprs(t, rules.map((r) => r.expr), ['up']);
    const byName = new Map(rules.map((r) => [r.alert, r]));
    // The chart's PodMonitor (jobLabel app.kubernetes.io/name) gives the agents' targets job="corridor".
    t.match(byName.get('CorridorAgentDown'), { expr: 'up{job="corridor"} == 0', for: '5m', labels: { severity: 'critical' } });
    t.match(byName.get('CorridorAgentsAbsent'), { expr: 'absent(up{job="corridor"})', for: '15m', labels: { severity: 'warning' } });
    t.match(byName.get('CorridorNotReady'), { expr: 'corridor_ready == 0', for: '5m' });
    t.match(byName.get('CorridorStsErrors'), { expr: /rate\(corridor_sts_calls_total\{result!="success"\}\[5m\]\)\) > 0$/, for: '10m' });
    t.match(byName.get('CorridorCredentialLifetimeLow'), { expr: 'corridor_session_min_remaining_seconds < 1200', for: '5m' });
    t.match(byName.get('CorridorDenialsSpike'), { expr: /rate\(corridor_decisions_total\{outcome="denied"\}\[5m\]\)\) > 1$/, for: '10m' });
    for (const r of rules) t.match(r.labels.severity, /^(warning|critical)$/, `${r.alert} has a severity`);
  });

  t.test('alert thresholds and extra labels come from values', async (t) => {
    const rule = only(
      renderChart(bin, {
        'metrics.prometheusRule.enabled': true,
        'metrics.prometheusRule.credentialLifetimeLowSeconds': 1500,
        'metrics.prometheusRule.denialsPerSecond': 5,
        'metrics.prometheusRule.ruleLabels.team': 'platform',
        // helm's --set syntax: a comma separates values unless escaped.
        'metrics.prometheusRule.targetSelector': 'job="kubernetes-service-endpoints"\\,service="corridor"',
      }),
      'PrometheusRule',
    ) as unknown as { spec: { groups: { rules: Rule[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    t.match(rules.find((r) => r.alert === 'CorridorCredentialLifetimeLow')?.expr, / < 1500$/);
    t.match(rules.find((r) => r.alert === 'CorridorDenialsSpike')?.expr, / > 5$/);
    t.equal(rules.find((r) => r.alert === 'CorridorAgentDown')?.expr, 'up{job="kubernetes-service-endpoints",service="corridor"} == 0');
    t.equal(rules.find((r) => r.alert === 'CorridorAgentsAbsent')?.expr, 'absent(up{job="kubernetes-service-endpoints",service="corridor"})');
    for (const r of rules) t.equal(r.labels.team, 'platform', `${r.alert} carries ruleLabels`);
  });

  t.test('the agent-down alerts follow nameOverride, as the PodMonitor\'s job label does', async (t) => {
    const objects = renderChart(bin, { 'metrics.prometheusRule.enabled': true, 'metrics.podMonitor.enabled': true, nameOverride: 'imds-proxy' });
    const podMonitor = only(objects, 'PodMonitor') as unknown as { spec: { jobLabel: string } };
    const daemonSet = only(objects, 'DaemonSet') as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } };
    t.equal(daemonSet.spec.template.metadata.labels[podMonitor.spec.jobLabel], 'imds-proxy', 'the job label the PodMonitor gives the targets');
    const rules = (only(objects, 'PrometheusRule') as unknown as { spec: { groups: { rules: Rule[] }[] } }).spec.groups.flatMap((g) => g.rules);
    t.equal(rules.find((r) => r.alert === 'CorridorAgentDown')?.expr, 'up{job="imds-proxy"} == 0');
  });
}
