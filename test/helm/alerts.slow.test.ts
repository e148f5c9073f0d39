import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { findHelm } from '../helpers/helm.js';
import { findPrometheusTool, renderedRuleGroups, runTool, tempDir, toolVersion, writeRulesFile } from '../helpers/prometheus.js';
import { asGrafanaSends, dashboardText, exprsIn } from '../helpers/promql.js';

/** promtool unit tests, one file per alert (or pair), each reading corridor-rules.yaml next to it. */
const ALERT_TESTS = new URL('./alerts/', import.meta.url).pathname;
const RULES_FILE = 'corridor-rules.yaml';

interface AlertRuleTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: unknown[];
}
interface UnitTestFile {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: AlertRuleTest[] }>;
}

const testFiles = readdirSync(ALERT_TESTS).filter((f) => f.endsWith('.yaml')).sort();

const helmFound = findHelm(t);
const promtool = findPrometheusTool('promtool');
if (!helmFound.ok || !promtool.ok) {
  const reason = !promtool.ok ? promtool.reason : !helmFound.ok ? `helm not available: ${helmFound.reason}` : '';
  t.test('promtool checks and unit tests of the alert rules', { skip: reason }, async () => {});
} else {
  const helmBin = helmFound.bin;
  const promtoolBin = promtool.bin;
  t.comment(toolVersion(promtoolBin));

  t.test('promtool check rules accepts the rendered PrometheusRule, with default and with custom values', async (t) => {
    const dir = tempDir(t, 'corridor-rules-');
    const variants: Record<string, Record<string, string | number | boolean>> = {
      defaults: {},
      custom: {
        'metrics.prometheusRule.credentialLifetimeLowSeconds': 1500,
        'metrics.prometheusRule.denialsPerSecond': 2,
        'metrics.prometheusRule.ruleLabels.team': 'platform',
        'metrics.prometheusRule.targetSelector': 'job="kubernetes-service-endpoints"\\,service="corridor"',
      },
    };
    for (const [name, set] of Object.entries(variants)) {
      const file = writeRulesFile(join(dir, `${name}.yaml`), renderedRuleGroups(helmBin, set));
      const result = runTool(promtoolBin, ['check', 'rules', file]);
      t.equal(result.status, 0, `${name}: ${result.output}`);
      t.match(result.output, /SUCCESS: 6 rules found/, name);
    }
  });

  t.test('promtool test rules: every alert fires when it should and stays silent when it should not', async (t) => {
    const groups = renderedRuleGroups(helmBin);
    const alerts = groups.flatMap((g) => g.rules).flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    const dir = tempDir(t, 'corridor-alert-tests-');
    writeRulesFile(join(dir, RULES_FILE), groups);
    for (const file of testFiles) copyFileSync(join(ALERT_TESTS, file), join(dir, file));

    const result = runTool(promtoolBin, ['test', 'rules', ...testFiles], dir);
    t.equal(result.status, 0, 'promtool test rules passes');
    if (result.status !== 0) t.comment(result.output);
    for (const file of testFiles) t.match(result.output, new RegExp(`Unit Testing:\\s+${file}\\s+SUCCESS`), `${file} passes`);

    // promtool accepts an expectation on an alert that does not exist, and silence is what it
    // would see: so every expectation must name a real alert, and every alert needs both kinds.
    const cases = testFiles.flatMap((file) => {
      const parsed = parse(readFileSync(join(ALERT_TESTS, file), 'utf8')) as UnitTestFile;
      t.same(parsed.rule_files, [RULES_FILE], `${file} reads the rendered rules`);
      return parsed.tests.flatMap((test) => (test.alert_rule_test ?? []).map((c) => ({ file, test: test.name, ...c })));
    });
    for (const c of cases) t.ok(alerts.includes(c.alertname), `${c.file} "${c.test}": ${c.alertname} is one of the chart's alerts`);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      t.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} is shown firing`);
      t.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} is shown silent`);
    }
  });

  t.test('every dashboard query parses as PromQL, as Grafana sends it (promtool check rules)', async (t) => {
    const dashboard = JSON.parse(dashboardText()) as { panels: unknown[]; templating: unknown };
    const exprs = [...exprsIn(dashboard.panels)];
    t.ok(exprs.length >= 10, `${exprs.length} queries`);
    // Recording rules are the one thing promtool parses offline; each query becomes one.
    const variants = [
      { instance: '.*', rateInterval: '1m' },
      { instance: '10.0.1.5:9181|10.0.1.6:9181', rateInterval: '2m' },
    ];
    const rules = variants.flatMap((values, v) => exprs.map((expr, i) => ({ record: `dashboard:query_${v}_${i}`, expr: asGrafanaSends(expr, values) })));
    for (const rule of rules) t.notMatch(rule.expr, /\$/, `no Grafana variable left: ${rule.expr}`);
    const file = writeRulesFile(join(tempDir(t, 'corridor-dashboard-'), 'dashboard.yaml'), [{ name: 'dashboard', rules }]);
    const result = runTool(promtoolBin, ['check', 'rules', file]);
    t.equal(result.status, 0, result.output);
    t.match(result.output, `SUCCESS: ${rules.length} rules found`);
  });
}
