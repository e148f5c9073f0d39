import t from 'tap';
import { startFakeSts } from '../../demo/index.js';
import { startHarness, type Harness } from '../helpers/agent-harness.js';
import { makeNamespace, makePod, within } from '../helpers/fake-kube-api.js';
import { findHelm } from '../helpers/helm.js';
import { eventually } from '../helpers/eventually.js';
import { findPrometheusTool, renderedRuleGroups, rulesFileText, startPrometheus, toolVersion, type RunningPrometheus } from '../helpers/prometheus.js';
import { asGrafanaSends, dashboardText, exprsIn } from '../helpers/promql.js';

const CREDS = '/latest/meta-data/iam/security-credentials/';
/** Labels the chart's PodMonitor would give the target; job comes from the scrape config. */
const TARGET_LABELS = { namespace: 'corridor', pod: 'corridor-test', container: 'corridor', endpoint: 'metrics' };
/** Prometheus scrapes and evaluates every second: each wait below is a few of those. */
const WAIT_MS = 20_000;

interface ApiRule {
  name: string;
  type: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  state?: string;
}
interface ApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const instant = (prom: RunningPrometheus, query: string) => prom.api<{ resultType: string; result: Sample[] }>('query', { query });
const alertsOf = async (prom: RunningPrometheus) => (await prom.api<{ alerts: ApiAlert[] }>('alerts')).alerts;

async function fetchCredentials(h: Harness, ip: string): Promise<{ status: number; body: string }> {
  const list = await h.request(ip, CREDS);
  if (list.status !== 200) return list;
  return h.request(ip, `${CREDS}${list.body}`);
}

const helmFound = findHelm(t);
const prometheus = findPrometheusTool('prometheus');
if (!helmFound.ok || !prometheus.ok) {
  const reason = !prometheus.ok ? prometheus.reason : !helmFound.ok ? `helm not available: ${helmFound.reason}` : '';
  t.test('a real Prometheus scrapes a running agent and evaluates the chart\'s rules', { skip: reason }, async () => {});
} else {
  const helmBin = helmFound.bin;
  const prometheusBin = prometheus.bin;

  t.test('a real Prometheus scrapes a running agent, evaluates every rule and dashboard query, and sees the agent go down', async (t) => {
    t.comment(toolVersion(prometheusBin));
    const began = Date.now();
    const sts = await startFakeSts();
    t.teardown(() => sts.close());
    const h = await startHarness(t, {
      objects: [
        makeNamespace('gha', { 'iam.amazonaws.com/role': 'spark-etl' }),
        makeNamespace('gha1', { 'iam.amazonaws.com/role': 'gha1-ingest' }),
        makePod({ name: 'spark-driver', namespace: 'gha', ip: '127.0.0.2', nodeName: 'node-a' }),
        makePod({ name: 'intruder', namespace: 'gha1', ip: '127.0.0.4', nodeName: 'node-a', annotations: { 'iam.amazonaws.com/role': 'spark-etl' } }),
      ],
      stsEndpoint: sts.url,
    });
    await within(h.agent.directory.whenReady(), 10_000, 'the agent ready');
    // A session cached (so the lifetime gauge is a number, not NaN), a cache hit (the first fetch
    // may have joined the prefetch) and a denial, so that every dashboard panel has a series.
    t.equal((await fetchCredentials(h, '127.0.0.2')).status, 200, 'a pod of the node gets credentials');
    t.equal((await fetchCredentials(h, '127.0.0.2')).status, 200, 'again, from the cache');
    t.equal((await fetchCredentials(h, '127.0.0.4')).status, 404, 'a pod asking for a role its namespace does not allow is denied');

    const target = new URL(h.agent.adminUrl).host;
    const groups = renderedRuleGroups(helmBin);
    const alertNames = groups.flatMap((g) => g.rules).map((r) => r.alert);
    const prom = await startPrometheus(
      t,
      prometheusBin,
      {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: ['corridor-rules.yaml'],
        // job_name "corridor": the job the chart's PodMonitor gives the agents (jobLabel app.kubernetes.io/name).
        scrape_configs: [{ job_name: 'corridor', metrics_path: '/metrics', static_configs: [{ targets: [target], labels: TARGET_LABELS }] }],
      },
      { 'corridor-rules.yaml': rulesFileText(groups) },
    );
    const started = Date.now();
    t.teardown(() => {
      if (t.passing()) return;
      t.comment(`prometheus output:\n${prom.output()}`);
    });

    // The scrape: corridor_ready is 1, under the target's labels.
    await eventually('a scrape with corridor_ready 1', WAIT_MS, async () => (await instant(prom, 'corridor_ready')).result[0]?.value[1] === '1');
    t.match((await instant(prom, 'corridor_ready')).result, [{ metric: { job: 'corridor', instance: target, ...TARGET_LABELS }, value: [Number, '1'] }]);
    const scraped = Date.now();
    // Every rule loaded and evaluated without error, after that scrape (before it, CorridorAgentsAbsent is
    // rightly pending: Prometheus has no up series yet).
    let rules: ApiRule[] = [];
    await eventually('every rule evaluated', WAIT_MS, async () => {
      rules = (await prom.api<{ groups: Array<{ rules: ApiRule[] }> }>('rules')).groups.flatMap((g) => g.rules);
      return rules.length === alertNames.length && rules.every((r) => Date.parse(r.lastEvaluation) >= scraped);
    });
    t.same(rules.map((r) => r.name), alertNames, 'Prometheus loaded the chart\'s alerts');
    for (const rule of rules) t.match(rule, { type: 'alerting', health: 'ok', state: 'inactive' }, `${rule.name} evaluates, and a healthy agent does not trigger it`);

    const remaining = Number((await instant(prom, 'corridor_session_min_remaining_seconds')).result[0]?.value[1]);
    t.ok(remaining > 1200, `the cached session has ${remaining} s left, above the alert's threshold`);

    // The dashboard's queries, as Grafana sends them, once a few scrapes are in (rate() needs two).
    await eventually('three scrapes', WAIT_MS, async () => Number((await instant(prom, 'count_over_time(up{job="corridor"}[1m])')).result[0]?.value[1]) >= 3);
    t.same(await prom.api<string[]>('label/instance/values', { 'match[]': 'corridor_build_info' }), [target], 'the dashboard\'s $instance variable finds the agent');
    const dashboard = JSON.parse(dashboardText()) as { panels: unknown[] };
    for (const expr of exprsIn(dashboard.panels)) {
      for (const instance of ['.*', target]) {
        const query = asGrafanaSends(expr, { instance, rateInterval: '10s' });
        const answer = await instant(prom, query);
        // No watch restarted, so that counter has no series yet; every other query shows the agent.
        if (expr.includes('corridor_watch_restarts_total')) t.same(answer.result, [], `evaluates (no watch restart yet): ${query}`);
        else t.ok(answer.result.length > 0, `evaluates and shows data: ${query}`);
      }
    }
    t.same(await alertsOf(prom), [], 'no alert pending or firing while the agent is healthy');

    // The agent stops answering: its series go stale (CorridorNotReady cannot see it), up is 0,
    // and CorridorAgentDown goes pending (it fires after its 5m `for`).
    const stopped = Date.now();
    await h.agent.close();
    let down: ApiAlert | undefined;
    await eventually('CorridorAgentDown pending', WAIT_MS, async () => {
      down = (await alertsOf(prom)).find((a) => a.labels.alertname === 'CorridorAgentDown');
      return down?.state === 'pending';
    });
    const pendingAfter = Date.now() - stopped;
    t.match(down, {
      state: 'pending',
      labels: { alertname: 'CorridorAgentDown', severity: 'critical', job: 'corridor', instance: target, ...TARGET_LABELS },
      annotations: { summary: `corridor agent corridor-test has not answered scrapes of ${target} for 5 minutes` },
    });
    t.match((await instant(prom, 'up{job="corridor"} == 0')).result, [{ metric: { instance: target }, value: [Number, '0'] }], 'the alert\'s expression holds');
    t.same((await instant(prom, 'corridor_ready')).result, [], 'corridor_ready is stale, not 0: CorridorNotReady stays silent');
    t.same(
      (await alertsOf(prom)).map((a) => a.labels.alertname),
      ['CorridorAgentDown'],
      'only CorridorAgentDown: CorridorAgentsAbsent needs no target at all',
    );
    t.comment(`prometheus ready ${started - began} ms after the test began; CorridorAgentDown pending ${pendingAfter} ms after the agent stopped; ${Date.now() - began} ms in all`);
  });
}
